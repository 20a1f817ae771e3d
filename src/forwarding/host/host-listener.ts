import { createServer, isIP, type Server, type Socket } from 'node:net';
import { ForwarderError } from '../../common/errors.js';

/** A forwarded port's listening sockets on the host. */
export interface HostListener {
  readonly port: number;
  readonly addresses: string[];
  /**
   * Stops accepting at once (the port can be bound again right away); the connections already open
   * live on until one of their ends closes them. Resolves once the last of them has closed.
   */
  withdraw(): Promise<void>;
  /** Stops accepting and destroys the live connections. */
  close(): Promise<void>;
}

/** The host address listeners bind unless told otherwise: loopback only, never a wildcard. */
export const DEFAULT_BIND_ADDRESS = '127.0.0.1';

/** True for an address only this host can reach: 127.0.0.0/8, ::1, or 127.x.y.z mapped into IPv6. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.toLowerCase().replace(/^::ffff:/, '');
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return isIP(address) === 6 && new URL(`http://[${address}]/`).hostname === '[::1]';
}
export const IPV6_LOOPBACK = '::1';

// The port is someone else's (or privileged): not an error, the caller picks another port.
export const TAKEN_CODES: ReadonlySet<string> = new Set(['EADDRINUSE', 'EACCES']);
// The host has no IPv6 loopback: IPv4 alone is all there is to bind.
export const NO_IPV6_CODES: ReadonlySet<string> = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT']);

type ListenOutcome = { server: Server } | { error: NodeJS.ErrnoException };

/** Binds 127.0.0.1:port and, where the host has IPv6 loopback, [::1]:port; null if the port is taken on either. */
export async function bindHostListener(
  port: number,
  onConnection: (socket: Socket) => void,
  bindAddress: string = DEFAULT_BIND_ADDRESS,
): Promise<HostListener | null> {
  const sockets = new Set<Socket>();
  const accept = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
  };

  const first = await listenOn(bindAddress, port, accept);
  if ('error' in first) {
    if (TAKEN_CODES.has(first.error.code ?? '')) return null;
    throw listenFailure(bindAddress, port, first.error);
  }
  const servers = [first.server];
  const boundPort = (first.server.address() as { port: number }).port;

  if (bindAddress === DEFAULT_BIND_ADDRESS) {
    const second = await listenOn(IPV6_LOOPBACK, boundPort, accept);
    if ('server' in second) {
      servers.push(second.server);
    } else if (!NO_IPV6_CODES.has(second.error.code ?? '')) {
      await closeServer(first.server);
      if (TAKEN_CODES.has(second.error.code ?? '')) return null;
      throw listenFailure(IPV6_LOOPBACK, boundPort, second.error);
    }
  }

  let withdrawing: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  // server.close() closes the listening socket at once; its callback waits for the server's last
  // connection to close. Accepted sockets never keep the port from being listened on again: Node
  // sets SO_REUSEADDR, which lets a new listener bind a port that only connections still use.
  const withdraw = () => (withdrawing ??= Promise.all(servers.map(closeServer)).then(() => {}));
  return {
    port: boundPort,
    addresses: servers.map((server) => (server.address() as { address: string }).address),
    withdraw,
    close() {
      closing ??= (async () => {
        const stopped = withdraw();
        for (const socket of sockets) socket.destroy();
        await stopped;
      })();
      return closing;
    },
  };
}

function listenOn(host: string, port: number, accept: (socket: Socket) => void): Promise<ListenOutcome> {
  return new Promise((resolve) => {
    // allowHalfOpen: a client's FIN must reach the container without closing the way back.
    const server = createServer({ allowHalfOpen: true }, accept);
    const onError = (error: NodeJS.ErrnoException) => resolve({ error });
    server.once('error', onError);
    // exclusive: never share the port with another process's listener (cluster or SO_REUSEPORT).
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      // accept() failures (EMFILE, say) are transient: libuv keeps listening, so there is nothing to do.
      server.on('error', () => {});
      resolve({ server });
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function listenFailure(host: string, port: number, error: NodeJS.ErrnoException): ForwarderError {
  const shown = host.includes(':') ? `[${host}]` : host;
  return new ForwarderError(`cannot listen on ${shown}:${port}: ${error.code ?? error.message}`, {
    code: 'PORT_UNAVAILABLE',
    cause: error,
    description: `The host refused a listening socket on ${shown}:${port} (${error.message}).`,
  });
}
