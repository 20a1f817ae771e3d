/** How a forwarded port came to be wanted. */
export type PortOrigin = 'declared' | 'detected';

/** How its host port was chosen (see host-port.ts). */
export type PortAllocation = 'same' | 'remapped-in-use' | 'remapped-privileged';

/**
 * How connections reach the container: straight to its IP, through a helper in its network
 * namespace, through its relay agent, over its mux channel (one exec carrying them all), or by an
 * exec each.
 */
export const RELAY_PATHS = ['direct', 'netns', 'agent', 'mux', 'exec'] as const;
export type RelayPath = (typeof RELAY_PATHS)[number];

/** The transport a forward carries: a TCP and a UDP forward of one port are two forwards. */
export const PROTOCOLS = ['tcp', 'udp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** One forwarded port as the registry records it; `ports` shows its PublicPortEntry. */
export interface PortEntry {
  containerId: string;
  containerName: string;
  /** The Compose service, when the port belongs to one. */
  service: string | null;
  containerPort: number;
  hostAddress: string;
  hostPort: number;
  protocol: Protocol;
  origin: PortOrigin;
  allocation: PortAllocation;
  label: string | null;
  /** The command line of the process listening in the container, when it could be seen. */
  process: string | null;
  forwarderPid: number;
  /** The forwarder's start time (clock ticks since boot, /proc/PID/stat field 22): pid reuse guard. */
  forwarderStartTime: number;
  /** ISO time the forward started. */
  since: string;
  path: RelayPath;
  /** `http` or `https` from portsAttributes, else null. */
  urlScheme?: 'http' | 'https' | null;
}

/**
 * Which way connections go: from the host into the container (a forward), or from inside the
 * container to the host's loopback (a reverse port: containerPort listens inside, hostPort is dialled).
 */
export type PortDirection = 'forward' | 'reverse';

/** One forwarded port as `ports` shows it (a row of `--json`, the table, `--watch`'s watching line). */
export type PublicPortEntry = Omit<PortEntry, 'forwarderStartTime'> & { direction: PortDirection };

/**
 * Pure: the public shape of a registry entry, field by field, so that what the registry keeps for
 * itself (the forwarder's start time, a pid-reuse guard) and any field added to it later stay inside.
 */
export function publicEntry(entry: PortEntry): PublicPortEntry {
  return {
    containerId: entry.containerId,
    containerName: entry.containerName,
    service: entry.service,
    containerPort: entry.containerPort,
    hostAddress: entry.hostAddress,
    hostPort: entry.hostPort,
    protocol: entry.protocol,
    origin: entry.origin,
    allocation: entry.allocation,
    label: entry.label,
    process: entry.process,
    forwarderPid: entry.forwarderPid,
    since: entry.since,
    path: entry.path,
    direction: 'forward',
    ...(entry.urlScheme === undefined ? {} : { urlScheme: entry.urlScheme }),
  };
}

export type PortEventType = 'forwarded' | 'withdrawn' | 'failed';

/** A change to one forward, as written to the daemon log and streamed by `ports --watch --json`. */
export type PortEvent = Omit<PublicPortEntry, 'hostPort' | 'allocation' | 'path' | 'direction'> & {
  type: PortEventType;
  at: string;
  hostPort: number | null;
  allocation: PortAllocation | null;
  path: RelayPath | null;
  reason?: string;
  /** False when onAutoForward is `silent`: the event is logged but not announced. */
  notify?: boolean;
  /** portsAttributes.onAutoForward for the port, when set (`ports --watch` acts on openBrowser). */
  onAutoForward?: string;
};

/** Who serves a reverse port: its container and forwarder. */
export interface ReverseOwner {
  containerId: string;
  containerName: string;
  forwarderPid: number;
  /** When the forwarder started. */
  since: string;
}

/**
 * Pure: a reverse port as `ports` lists it and its events carry it: containerPort listens inside the
 * container, hostPort is the host loopback port it reaches; no host port is bound for it.
 */
export function reverseEntry(
  owner: ReverseOwner,
  port: { hostPort: number; containerPort: number },
): PublicPortEntry {
  return {
    containerId: owner.containerId,
    containerName: owner.containerName,
    service: null,
    containerPort: port.containerPort,
    hostAddress: '127.0.0.1',
    hostPort: port.hostPort,
    protocol: 'tcp',
    origin: 'declared',
    allocation: 'same',
    label: null,
    process: null,
    forwarderPid: owner.forwarderPid,
    since: owner.since,
    path: 'netns',
    direction: 'reverse',
  };
}
