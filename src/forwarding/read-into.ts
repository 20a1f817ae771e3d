import type { OnReadOpts, Socket } from 'node:net';

/**
 * Bytes a dialled connection reads at a time. One buffer per connection, reused for every read:
 * large reads mean few system calls, and no buffer is allocated (or collected) per chunk. Its pages
 * are touched only as far as the reads fill it, so an idle connection costs a page or two.
 * Measured on loopback: about 1.6 times the throughput of pipe() with its 64 KiB chunks.
 */
export const RELAY_READ_BUFFER_BYTES = 1024 * 1024;

/**
 * `onread` options for a connection the forwarder dials (net.connect): every read goes straight to
 * `destination`. A write the kernel takes whole frees the buffer at once; one it takes only in part
 * still points into the buffer, so reading stops until that write is done. The source's EOF is not
 * handled here: listen for its 'end' and end `destination` then.
 */
export function readInto(destination: Socket, source: () => Socket): OnReadOpts {
  let paused = false;
  const resume = () => {
    if (!paused) return;
    paused = false;
    source().resume();
  };
  return {
    buffer: Buffer.allocUnsafeSlow(RELAY_READ_BUFFER_BYTES),
    callback(length, buffer) {
      // Nowhere to go: the error and close handlers end the source.
      if (destination.destroyed || destination.writableEnded) return true;
      destination.write(buffer.subarray(0, length), resume);
      if (destination.writableLength === 0) return true;
      paused = true;
      source().pause();
      return false;
    },
  };
}
