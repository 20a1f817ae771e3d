import { connect, type Socket } from 'node:net';
import type { DialOptions } from '../../runtime/ssh-link-dials.js';

/**
 * How the forwarder opens a TCP connection to a container's address, for the direct path and the
 * relay agent: from this host (`host`: a local engine, whose bridge the host routes to), or through
 * the SSH link as the remote engine's host dials it (`ssh-link`: a channel of the link's one
 * connection). The socket it resolves to behaves as net.connect's, except that a refusal through
 * the link arrives as an EOF (ssh accepts before it dials).
 */
export interface ContainerDialer {
  readonly via: 'host' | 'ssh-link';
  /** Whether it may dial now (the link's may not, or not yet). */
  readonly usable: boolean;
  /**
   * A socket connecting to host:port. An error the socket has before the caller listens is kept
   * from crashing the process: the caller checks `destroyed` once it has the socket.
   */
  dial(host: string, port: number, options: DialOptions): Promise<Socket>;
}

/** Dials from this host: net.connect. */
export const HOST_DIALER: ContainerDialer = {
  via: 'host',
  usable: true,
  dial(host, port, options) {
    const socket = connect({ host, port, ...options });
    socket.on('error', () => undefined);
    return Promise.resolve(socket);
  },
};

/**
 * Pure: the dialer of a container's addresses, or null when nothing dials them: from the host where
 * the container's init is proven in our /proc (listeners read from the host), else through the
 * engine's SSH link where it has one.
 */
export function dialerOf(
  listenersReadFromHost: boolean,
  linkDials: ContainerDialer | null,
): ContainerDialer | null {
  if (listenersReadFromHost) return HOST_DIALER;
  return linkDials;
}
