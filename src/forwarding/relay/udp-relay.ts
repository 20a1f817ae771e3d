import { createSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram';
import { isIP } from 'node:net';
import { ForwarderError } from '../../common/errors.js';
import type { HostListener } from '../host/host-listener.js';

/**
 * A UDP session (one client address's socket toward the server) ends after this long without a
 * datagram either way, as docker-proxy's do. `PORTPILOT_UDP_IDLE_MS` overrides it (tests).
 */
export const UDP_SESSION_IDLE_MS = 90_000;
/** Sessions one forward keeps at most; past it, the longest idle one makes way for a new client. */
export const MAX_UDP_SESSIONS = 1_024;
/** The largest UDP payload over IPv4 (65,535 minus the IP and UDP headers). */
export const MAX_UDP_PAYLOAD_BYTES = 65_507;
// Room for bursts of large datagrams; the kernel caps it at net.core.rmem_max.
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const IPV6_LOOPBACK = '::1';
const DEFAULT_BIND_ADDRESS = '127.0.0.1';
const TAKEN_CODES = new Set(['EADDRINUSE', 'EACCES']);
const NO_IPV6_CODES = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** Where a forward's datagrams go now: the server's address, or null when none can be reached. */
export type DatagramTarget = () => { address: string; port: number } | null;

export interface UdpRelayOptions {
  port: number;
  target: DatagramTarget;
  bindAddress?: string;
  /** Session idle time; default: sessionIdleMs(process.env). */
  idleMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** Pure: the session idle time, from `PORTPILOT_UDP_IDLE_MS` when it is a positive integer. */
export function sessionIdleMs(env: NodeJS.ProcessEnv): number {
  const value = Number(env.PORTPILOT_UDP_IDLE_MS);
  return Number.isSafeInteger(value) && value > 0 ? value : UDP_SESSION_IDLE_MS;
}

interface Session {
  socket: Socket;
  lastActive: number;
  /** Where the last datagram went: only datagrams from there are replies. */
  sentTo: { address: string; port: number } | null;
}

/**
 * Binds a UDP forward's host sockets: `bindAddress` (127.0.0.1, and then [::1] where the host has
 * IPv6) at `port`; null when the port is taken. Each client address gets a session: a socket of its
 * own toward the server, so each reply goes back to the client that asked, and the server sees
 * distinct clients as distinct peers. Datagrams are passed one for one, boundaries and sizes kept.
 */
export async function bindUdpRelay(options: UdpRelayOptions): Promise<HostListener | null> {
  const bindAddress = options.bindAddress ?? DEFAULT_BIND_ADDRESS;
  const idleMs = options.idleMs ?? sessionIdleMs(process.env);
  const log = options.log ?? (() => {});
  const sessions = new Map<string, Session>();
  const hosts: Socket[] = [];

  const endSession = (key: string, session: Session) => {
    sessions.delete(key);
    session.socket.close();
  };
  const onDatagram = (host: Socket, message: Buffer, client: RemoteInfo) => {
    const target = options.target();
    if (target === null) return;
    const key = `${client.address}|${client.port}`;
    let session = sessions.get(key);
    if (!session) {
      if (sessions.size >= MAX_UDP_SESSIONS) evictIdlest(sessions, endSession);
      session = openSession(target.address, host, client, () => {
        const ended = sessions.get(key);
        if (ended) endSession(key, ended);
      });
      sessions.set(key, session);
    }
    session.lastActive = Date.now();
    session.sentTo = target;
    session.socket.send(message, target.port, target.address, (error) => {
      if (error) log('udp datagram not sent', { port: options.port, error: error.message });
    });
  };

  const first = await bindOne(bindAddress, options.port, onDatagram);
  if ('error' in first) {
    if (TAKEN_CODES.has(first.error.code ?? '')) return null;
    throw bindFailure(bindAddress, options.port, first.error);
  }
  hosts.push(first.socket);
  const boundPort = first.socket.address().port;
  if (bindAddress === DEFAULT_BIND_ADDRESS) {
    const second = await bindOne(IPV6_LOOPBACK, boundPort, onDatagram);
    if ('socket' in second) hosts.push(second.socket);
    else if (!NO_IPV6_CODES.has(second.error.code ?? '')) {
      first.socket.close();
      if (TAKEN_CODES.has(second.error.code ?? '')) return null;
      throw bindFailure(IPV6_LOOPBACK, boundPort, second.error);
    }
  }

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [key, session] of sessions) if (now - session.lastActive >= idleMs) endSession(key, session);
    },
    Math.max(100, Math.min(idleMs / 2, 5_000)),
  );
  sweep.unref();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(sweep);
      for (const [key, session] of sessions) endSession(key, session);
      await Promise.all(hosts.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    })());
  return {
    port: boundPort,
    addresses: hosts.map((socket) => socket.address().address),
    // A datagram has no connection to outlive the forward: withdrawing ends the sessions too.
    withdraw: close,
    close,
  };
}

/** A client's session: replies from the server go back through `host` to the client alone. */
function openSession(targetAddress: string, host: Socket, client: RemoteInfo, onError: () => void): Session {
  const type: SocketType = isIP(targetAddress) === 6 ? 'udp6' : 'udp4';
  const socket = createSocket({
    type,
    recvBufferSize: SOCKET_BUFFER_BYTES,
    sendBufferSize: SOCKET_BUFFER_BYTES,
  });
  const session: Session = { socket, lastActive: Date.now(), sentTo: null };
  socket.on('message', (reply, from) => {
    const sentTo = session.sentTo;
    if (!sentTo || from.port !== sentTo.port || from.address !== sentTo.address) return;
    session.lastActive = Date.now();
    host.send(reply, client.port, client.address);
  });
  socket.on('error', onError);
  return session;
}

function evictIdlest(sessions: Map<string, Session>, end: (key: string, session: Session) => void): void {
  let idlest: [string, Session] | null = null;
  for (const entry of sessions) if (!idlest || entry[1].lastActive < idlest[1].lastActive) idlest = entry;
  if (idlest) end(...idlest);
}

type BindOutcome = { socket: Socket } | { error: NodeJS.ErrnoException };

function bindOne(
  address: string,
  port: number,
  onDatagram: (host: Socket, message: Buffer, client: RemoteInfo) => void,
): Promise<BindOutcome> {
  return new Promise((resolve) => {
    const v6 = isIP(address) === 6;
    const socket = createSocket({
      type: v6 ? 'udp6' : 'udp4',
      // The [::1] socket must not take the IPv4 port too.
      ...(v6 ? { ipv6Only: true } : {}),
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    const onError = (error: NodeJS.ErrnoException) => {
      socket.close();
      resolve({ error });
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      // A send to a client that is gone (ICMP unreachable) is not the forward's failure.
      socket.on('error', () => {});
      socket.on('message', (message, client) => onDatagram(socket, message, client));
      resolve({ socket });
    });
  });
}

function bindFailure(host: string, port: number, error: NodeJS.ErrnoException): ForwarderError {
  const shown = host.includes(':') ? `[${host}]` : host;
  return new ForwarderError(`cannot bind UDP ${shown}:${port}: ${error.code ?? error.message}`, {
    code: 'PORT_UNAVAILABLE',
    cause: error,
    description: `The host refused a UDP socket on ${shown}:${port} (${error.message}).`,
  });
}
