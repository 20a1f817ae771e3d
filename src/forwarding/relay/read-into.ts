import type { OnReadOpts, Socket } from 'node:net';

/** What a dialled connection first reads into: enough for a request, a greeting or a page. */
export const RELAY_FIRST_BUFFER_BYTES = 64 * 1024;
/**
 * What it reads into once a read has filled the first buffer (a bulk transfer). Large reads mean
 * few system calls; measured on loopback, about 1.6 times the throughput of pipe()'s 64 KiB chunks.
 * Its pages are touched only as far as the reads fill it.
 */
export const RELAY_READ_BUFFER_BYTES = 1024 * 1024;

/**
 * `onread` options for a connection the forwarder dials (net.connect): every read goes straight to
 * `destination`, from one buffer per connection reused for every read, so nothing is allocated (or
 * collected) per chunk. A write the kernel takes whole frees the buffer at once; one it takes only
 * in part still points into the buffer, so reading stops until that write is done. The source's
 * EOF is not handled here: listen for its 'end' and end `destination` then.
 */
export function readInto(destination: Socket, source: () => Socket): OnReadOpts {
  let buffer = Buffer.allocUnsafe(RELAY_FIRST_BUFFER_BYTES);
  let paused = false;
  const resume = () => {
    if (!paused) return;
    paused = false;
    source().resume();
  };
  return {
    // Node asks for the buffer before every read, so it can grow between two reads.
    buffer: () => buffer,
    callback(length, chunk) {
      // Nowhere to go: the error and close handlers end the source.
      if (destination.destroyed || destination.writableEnded) return true;
      destination.write(chunk.subarray(0, length), resume);
      const done = destination.writableLength === 0;
      if (length === buffer.length && buffer.length < RELAY_READ_BUFFER_BYTES) {
        buffer = Buffer.allocUnsafe(RELAY_READ_BUFFER_BYTES);
      }
      if (done) return true;
      paused = true;
      source().pause();
      return false;
    },
  };
}
