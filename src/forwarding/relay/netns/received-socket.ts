import { Socket } from 'node:net';
import { readInto } from '../read-into.js';

/**
 * The socket Node made of the received descriptor reads into a fresh buffer each time and through a
 * stream; the direct and agent paths read into one reused buffer and write each read straight to
 * the client (see readInto), which measured about a third faster here for bulk downloads. The same
 * handle is taken over by a socket that reads that way: the received one has asked for its first
 * read, but no byte is read before the event loop turns, and by then the handle reports to the new
 * socket. The server's half-close is the caller's to pass on, as on the other paths.
 */
export function rewrapReadingInto(received: Socket, destination: Socket): Socket {
  const internal = received as unknown as { _handle: unknown };
  const handle = internal._handle;
  if (handle === null || handle === undefined) {
    received.pipe(destination, { end: false });
    return received;
  }
  internal._handle = null;
  const socket: Socket = new Socket({
    handle,
    readable: true,
    writable: true,
    allowHalfOpen: true,
    onread: readInto(destination, () => socket),
  } as ConstructorParameters<typeof Socket>[0]);
  return socket;
}
