import type { PublishedPort } from '../runtime/published-ports.js';
import type { OnDemandAgent } from './relay/agent/agent-on-demand.js';
import type { OnDemandMux } from './relay/mux/mux-on-demand.js';
import type { NamespaceHelper } from './relay/netns/namespace-helper.js';
import type { HostListener } from './host/host-listener.js';
import type { PortEntry, PortOrigin, Protocol } from './port-entry.js';
import type { BindScope, PortListener } from './detect/proc-net-tcp.js';
import type { RelayProgram } from './relay/exec/exec-relay.js';
import type { ContainerDialer } from './relay/container-dialer.js';

/** A container whose ports this forwarder serves. */
export interface TargetContainer {
  id: string;
  name: string;
  service: string | null;
  /** Addresses the host can dial directly, or empty when it cannot (remote or VM-backed engine). */
  directAddresses: string[];
  /**
   * How `directAddresses` are dialled: from the host (when absent), or through a remote engine's SSH
   * link as its host dials them (which carries TCP only, and only while the link may dial).
   */
  dialer?: ContainerDialer | null;
  /** What its exec path runs; null on the host's network, where nothing is relayed (none was looked for). */
  relayProgram: RelayProgram | null;
  /** The in-container relay agent for loopback-bound servers, when one can run (started on demand). */
  agent: OnDemandAgent | null;
  /** The mux channel: one exec that carries every connection (started on demand), when python3 or perl can run it. */
  mux: OnDemandMux | null;
  /**
   * The helper in its network namespace, where this process may enter it (root, or a rootless
   * engine's own user) and its init is proven on this machine (started on demand).
   */
  netns: NamespaceHelper | null;
  /**
   * It runs in the host's own network namespace (network mode `host`): its servers already listen on
   * the host, at their own ports, and the forwarder's listeners would show up as its own.
   */
  hostNetwork: boolean;
  /** Its ports that the engine itself publishes on the host (appPort, `-p`, Compose `ports`). */
  publishedPorts: readonly PublishedPort[];
}

/** One port the forwarder wants forwarded, and what it holds for it. */
export interface Forward {
  target: TargetContainer;
  port: number;
  protocol: Protocol;
  origin: PortOrigin;
  scope: BindScope;
  dialAddress: string;
  process: string | null;
  entry: PortEntry | null;
  listener: HostListener | null;
  missedReads: number;
  /** When the first of the current run of missed reads happened. */
  missingSince: number;
  lastAttemptAt: number;
  /** The listener's socket inodes, as last read. */
  sockets?: string;
  /** A direct dial at the container's IPv4 address was refused by these sockets: IPv6-only. */
  ipv4Refused?: boolean;
}

/** A forward not opened yet: a declared port before anything was read is dialled on loopback inside. */
export function newForward(
  target: TargetContainer,
  port: number,
  origin: PortOrigin,
  listener: PortListener | null = null,
  process: string | null = null,
  protocol: Protocol = listener?.protocol ?? 'tcp',
): Forward {
  return {
    target,
    port,
    protocol,
    origin,
    scope: listener?.scope ?? 'loopback',
    dialAddress: listener?.dialAddress ?? '127.0.0.1',
    process,
    entry: null,
    listener: null,
    missedReads: 0,
    missingSince: 0,
    lastAttemptAt: 0,
    ...(listener ? { sockets: socketsOf(listener) } : {}),
  };
}

/** A listener's socket inodes, in a comparable form: another value means another socket. */
export function socketsOf(listener: PortListener): string {
  return listener.sockets.map((socket) => socket.inode).join(',');
}

/** A forward's key among the forwarder's forwards: a port's TCP and UDP forwards are two. */
export function keyOf(containerId: string, port: number, protocol: Protocol = 'tcp'): string {
  return protocol === 'tcp' ? `${containerId}:${port}` : `${containerId}:${port}/${protocol}`;
}
