import type { Log } from '../common/log.js';
import type { ReversePort } from '../config/reverse-ports.js';
import type { MuxReverse } from './relay/mux/mux-reverse.js';
import type { NamespaceHelper } from './relay/netns/namespace-helper.js';
import type { ReverseListener } from './relay/netns/reverse-listeners.js';
import { relayConnection, type RelayDeps } from './relay/relay-connection.js';

/** The host address a reverse port reaches: the host's loopback, and nothing else of the host. */
export const REVERSE_HOST = '127.0.0.1';
/** Where a reverse port listens inside the container: its loopback, IPv4 and (where it has one) IPv6. */
export const REVERSE_LISTEN_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** One reverse port served: whether it listens (or why not), and how to stop it. */
export interface ServedReversePort {
  port: ReversePort;
  /** Resolves to null once it listens on the container's 127.0.0.1, or to why it cannot. */
  listening: Promise<string | null>;
  close(): void;
}

/**
 * Serves a reverse port through the container's namespace helper: it listens on the container's
 * loopback at `containerPort`, and each connection accepted there is relayed, byte for byte with
 * half-closes and resets passed on, to the host's 127.0.0.1:`hostPort` (nothing listening there:
 * the container's connection is reset). ::1 is listened on too where the container's loopback has
 * IPv6; its absence is no failure.
 */
export function serveReversePort(
  helper: NamespaceHelper,
  port: ReversePort,
  deps: RelayDeps & { log?: Log },
): ServedReversePort {
  const target = { path: 'direct' as const, host: REVERSE_HOST, port: port.hostPort };
  const listeners: ReverseListener[] = REVERSE_LISTEN_ADDRESSES.map((address) =>
    helper.listen(address, port.containerPort, (socket) => {
      void relayConnection(socket, target, deps);
    }),
  );
  return servedBy(port, listeners);
}

/**
 * Serves a reverse port over the container's mux channel (see MuxReverse), where no namespace helper
 * can: the mux agent listens on the container's loopback at `containerPort` (and ::1 where it has
 * IPv6), and each connection accepted there is a stream the agent opens, connected here to the
 * host's 127.0.0.1:`hostPort` (nothing listening there: the container's connection is reset).
 */
export function serveReversePortOverMux(reverse: MuxReverse, port: ReversePort): ServedReversePort {
  const listeners = REVERSE_LISTEN_ADDRESSES.map((address) =>
    reverse.listen(address, port.containerPort, REVERSE_HOST, port.hostPort),
  );
  return servedBy(port, listeners);
}

/** The served port of its listeners: IPv4 first, whose listening is the port's. */
function servedBy(port: ReversePort, listeners: ReverseListener[]): ServedReversePort {
  const [ipv4] = listeners as [ReverseListener, ReverseListener];
  return {
    port,
    listening: ipv4.listening.then(
      () => null,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    ),
    close: () => {
      for (const listener of listeners) listener.close();
    },
  };
}
