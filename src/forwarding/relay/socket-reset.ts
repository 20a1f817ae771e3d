import type { Socket } from 'node:net';

/**
 * A reset on one side is passed on as a reset, as a plain TCP proxy would; resetAndDestroy needs a
 * live TCP handle and otherwise destroys the socket with an error, which the relays' handlers ignore.
 */
export function reset(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}
