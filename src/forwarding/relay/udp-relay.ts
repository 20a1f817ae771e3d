import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { errorMessage, ForwarderError } from '../../common/errors.js';
import {
  DEFAULT_BIND_ADDRESS,
  IPV6_LOOPBACK,
  NO_IPV6_CODES,
  TAKEN_CODES,
  type HostListener,
} from '../host/host-listener.js';
import type { Log } from '../../common/log.js';
import {
  openSession,
  queueDatagram,
  SOCKET_BUFFER_BYTES,
  type DatagramTarget,
  type Session,
  type Target,
} from './udp-session.js';

export type { DatagramTarget, SessionSocket } from './udp-session.js';

/**
 * A UDP session (one client address's socket toward the server) ends after this long without a
 * datagram either way, as docker-proxy's do. `PORTPILOT_UDP_IDLE_MS` overrides it (tests).
 */
export const UDP_SESSION_IDLE_MS = 90_000;
/** Sessions one forward keeps at most; past it, the longest idle one makes way for a new client. */
export const MAX_UDP_SESSIONS = 1_024;
/** The largest UDP payload over IPv4 (65,535 minus the IP and UDP headers). */
export const MAX_UDP_PAYLOAD_BYTES = 65_507;

export interface UdpRelayOptions {
  port: number;
  target: DatagramTarget;
  bindAddress?: string;
  /** Session idle time; default: sessionIdleMs(process.env). */
  idleMs?: number;
  log?: Log;
}

/** Pure: the session idle time, from `PORTPILOT_UDP_IDLE_MS` when it is a positive integer. */
export function sessionIdleMs(env: NodeJS.ProcessEnv): number {
  const value = Number(env.PORTPILOT_UDP_IDLE_MS);
  return Number.isSafeInteger(value) && value > 0 ? value : UDP_SESSION_IDLE_MS;
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
    if (sessions.get(key) === session) sessions.delete(key);
    if (recent?.session === session) recent = null;
    session.closed = true;
    session.socket?.close();
  };
  // The last client's session, found again without building its key (one client sends in a row).
  let recent: { host: Socket; address: string; port: number; key: string; session: Session } | null = null;
  const onDatagram = (host: Socket, message: Buffer, client: RemoteInfo) => {
    const target = options.target();
    if (target === null) return;
    let key: string;
    let session: Session | undefined;
    if (recent && recent.port === client.port && recent.host === host && recent.address === client.address) {
      ({ key, session } = recent);
    } else {
      key = `${client.address}|${client.port}`;
      session = sessions.get(key);
    }
    if (session && !followsTarget(session, target)) {
      endSession(key, session);
      session = undefined;
    }
    if (!session) {
      if (sessions.size >= MAX_UDP_SESSIONS) evictIdlest(sessions, endSession);
      const { address, port } = client;
      const opened: Session = openSession(
        target,
        (reply) => host.send(reply, port, address),
        () => endSession(key, opened),
        (error) => log('udp session not opened', { port: options.port, error: errorMessage(error) }),
      );
      session = opened;
      sessions.set(key, session);
    }
    if (recent?.session !== session)
      recent = { host, address: client.address, port: client.port, key, session };
    session.lastActive = Date.now();
    if (session.send !== null) session.send(message);
    else queueDatagram(session, message);
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

/**
 * Whether a session may carry the next datagram to `target`: one whose socket was made here is
 * connected to the server it was opened for, so a new server address needs a new session; an opened
 * socket sends wherever the target says now (`sentTo` follows it), but never changes where it came from.
 */
function followsTarget(session: Session, target: Target): boolean {
  if (session.opened !== (target.open !== undefined)) return false;
  const { sentTo } = session;
  if (sentTo.port === target.port && sentTo.address === target.address) return true;
  if (!session.opened) return false;
  session.sentTo = { address: target.address, port: target.port };
  return true;
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
      lookup: literalAddress,
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

/**
 * A host socket binds to and replies to IP addresses only (its own, and each client's as the kernel
 * reported it): taken as they are, without the DNS lookup, and the turn of the event loop, that
 * Node's default gives every send.
 */
function literalAddress(
  address: string,
  _family: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

function bindFailure(host: string, port: number, error: NodeJS.ErrnoException): ForwarderError {
  const shown = host.includes(':') ? `[${host}]` : host;
  return new ForwarderError(`cannot bind UDP ${shown}:${port}: ${error.code ?? error.message}`, {
    code: 'PORT_UNAVAILABLE',
    cause: error,
    description: `The host refused a UDP socket on ${shown}:${port} (${error.message}).`,
  });
}

/**
 * Pure: where a socket inside the container's namespace is bound to send to `address`: the same
 * loopback address for a server on the loopback (nothing outside the container reaches it), else
 * any address of the family, the kernel choosing the source.
 */
export function namespaceBindAddress(address: string): string {
  if (address === IPV6_LOOPBACK || address.startsWith('127.')) return address;
  return isIP(address) === 6 ? '::' : '0.0.0.0';
}
