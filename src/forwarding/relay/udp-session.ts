import { createSocket, type Socket, type SocketType } from 'node:dgram';
import { isIP } from 'node:net';

/**
 * What a session sends through and hears replies on: a UDP socket, or a session carried on the
 * container's mux channel (mux-datagram-session.ts). 'error' ends the session.
 */
export interface SessionSocket {
  send(message: Buffer, port: number, address: string, callback?: (error: Error | null) => void): void;
  on(event: 'message', listener: (message: Buffer, from: { address: string; port: number }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  close(): void;
}

/**
 * Where a forward's datagrams go now: the server's address, or null when none can be reached. With
 * `open`, a session's socket comes from there (a socket inside the container's network namespace,
 * for a server on its loopback, or a session on its mux channel) instead of being made here; null
 * from it drops the session.
 */
export type DatagramTarget = () => {
  address: string;
  port: number;
  open?: (address: string) => Promise<SessionSocket | null>;
} | null;

export type Target = NonNullable<ReturnType<DatagramTarget>>;

/** Datagrams a session keeps while its socket is being opened; past it, new ones are dropped. */
const MAX_QUEUED_DATAGRAMS = 64;
// Room for bursts of large datagrams; the kernel caps it at net.core.rmem_max.
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export interface Session {
  /** Sends one datagram to the server; null while the socket is being opened or connected. */
  send: ((message: Buffer) => void) | null;
  socket: SessionSocket | null;
  /** Datagrams that wait for the socket. */
  queued: Buffer[];
  /** Whether the socket came from the target's `open` (a session does not change where it came from). */
  opened: boolean;
  closed: boolean;
  lastActive: number;
  /**
   * Where datagrams go: only datagrams from there are replies. A socket made here is connected to
   * it, so the kernel passes no other; an opened one follows the target from datagram to datagram.
   */
  sentTo: { address: string; port: number };
}

/**
 * A client's session: replies from the server (only from the address and port its datagrams go to)
 * go back through `reply` to the client alone. `end` is called when its socket fails or cannot be
 * opened (`failed` told why, when it could not be opened).
 */
export function openSession(
  target: Target,
  reply: (message: Buffer) => void,
  end: () => void,
  failed: (error: unknown) => void,
): Session {
  const { open } = target;
  const opened = open !== undefined;
  const session: Session = {
    send: null,
    socket: null,
    queued: [],
    opened,
    closed: false,
    lastActive: Date.now(),
    sentTo: { address: target.address, port: target.port },
  };
  const attach = (socket: SessionSocket, send: (message: Buffer) => void, filtered: boolean) => {
    if (session.closed) {
      socket.close();
      return;
    }
    socket.on('message', (message, from) => {
      const { sentTo } = session;
      if (!filtered && (from.port !== sentTo.port || from.address !== sentTo.address)) return;
      session.lastActive = Date.now();
      reply(message);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server's port refused one datagram (ICMP, reported on a connected socket): the next
      // one may find it listening again, as with an unconnected socket.
      if (error.code !== 'ECONNREFUSED') end();
    });
    session.socket = socket;
    session.send = send;
    for (const message of session.queued.splice(0)) send(message);
  };
  const fail = (error: unknown) => {
    failed(error);
    end();
  };
  if (open === undefined) {
    connectedSocket(target.address, target.port).then(
      (socket) => attach(socket, (message) => socket.send(message), true),
      fail,
    );
    return session;
  }
  open(target.address).then((socket) => {
    if (socket === null) {
      end();
      return;
    }
    attach(
      socket,
      (message) => {
        const { sentTo } = session;
        socket.send(message, sentTo.port, sentTo.address);
      },
      false,
    );
  }, fail);
  return session;
}

/** Holds a datagram for a session whose socket is not there yet (dropped past MAX_QUEUED_DATAGRAMS). */
export function queueDatagram(session: Session, message: Buffer): void {
  if (session.queued.length < MAX_QUEUED_DATAGRAMS) session.queued.push(message);
}

/**
 * A socket of the host's connected to the server: its sends take no address to resolve, and the
 * kernel passes it only datagrams from the server.
 */
function connectedSocket(address: string, port: number): Promise<Socket> {
  const type: SocketType = isIP(address) === 6 ? 'udp6' : 'udp4';
  const socket = createSocket({
    type,
    recvBufferSize: SOCKET_BUFFER_BYTES,
    sendBufferSize: SOCKET_BUFFER_BYTES,
  });
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.connect(port, address, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
