import type { PortAllocation } from '../port-entry.js';

/** A privileged container port P (< 1024) is first offered host port P + this. */
export const PRIVILEGED_PORT_OFFSET = 8000;

/** Ports below this need root (or CAP_NET_BIND_SERVICE) to bind. */
export const FIRST_UNPRIVILEGED_PORT = 1024;

/** The highest TCP port. */
export const MAX_PORT = 65535;

/** One host port to try, and how it relates to the container port. */
export interface HostPortCandidate {
  port: number;
  allocation: PortAllocation;
}

/** True for an integer in 1..65535. */
export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= MAX_PORT;
}

/** Candidates in order of preference for container port P; skips ports in `taken`. */
export function* hostPortCandidates(
  containerPort: number,
  options: { requireLocalPort: boolean; taken: ReadonlySet<number> },
): Iterable<HostPortCandidate> {
  if (!isValidPort(containerPort)) return;
  // requireLocalPort means P or nothing, even for a privileged P the caller may be unable to bind.
  if (options.requireLocalPort) {
    if (!options.taken.has(containerPort)) yield { port: containerPort, allocation: 'same' };
    return;
  }
  if (containerPort < FIRST_UNPRIVILEGED_PORT) {
    for (let port = PRIVILEGED_PORT_OFFSET + containerPort; port <= MAX_PORT; port++) {
      if (!options.taken.has(port)) yield { port, allocation: 'remapped-privileged' };
    }
    return;
  }
  if (!options.taken.has(containerPort)) yield { port: containerPort, allocation: 'same' };
  for (let port = containerPort + 1; port <= MAX_PORT; port++) {
    if (!options.taken.has(port)) yield { port, allocation: 'remapped-in-use' };
  }
}

/** Why no candidate worked, for a `failed` event: names the port, the cause and the setting at play. */
export function describeNoHostPort(
  containerPort: number,
  options: { requireLocalPort: boolean; heldBy?: string | undefined },
): string {
  if (!isValidPort(containerPort)) return `container port ${containerPort} is not a TCP port (1-65535)`;
  if (!options.requireLocalPort) {
    const first =
      containerPort < FIRST_UNPRIVILEGED_PORT ? PRIVILEGED_PORT_OFFSET + containerPort : containerPort;
    return `no free host port from ${first} to ${MAX_PORT} for container port ${containerPort}`;
  }
  const why = options.heldBy
    ? `is already forwarded from container ${options.heldBy}`
    : containerPort < FIRST_UNPRIVILEGED_PORT
      ? 'is privileged (binding it needs root) or in use'
      : 'is in use';
  return `host port ${containerPort} ${why} and portsAttributes.requireLocalPort is set`;
}
