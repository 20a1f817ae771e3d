import type { PublishedPort } from '../runtime/published-ports.js';
import type { PortOrigin } from './port-entry.js';
import type { PortListener } from './detect/proc-net-tcp.js';

/** A detected listener absent from this many consecutive reads is withdrawn… */
export const WITHDRAW_AFTER_MISSED_READS = 2;
/**
 * …and only once it has been absent this long. A dev server that restarts (a watcher reloading it)
 * is gone for a moment; when reads come fast (many connections move the socket counters), two
 * misses alone would withdraw and re-forward it, flapping events and maybe losing its host port.
 * Shorter than the 2 s full-read interval, so the first full read after the first miss withdraws it:
 * a listener gone for good goes within ~2.5 s.
 */
export const WITHDRAW_GRACE_MS = 1_500;
/** At most this many detected ports are auto-forwarded; declared ports do not count. */
export const AUTO_FORWARD_CAP = 20;
/** A port whose host port could not be had is tried again this often, quietly. */
export const RETRY_FAILED_MS = 5_000;

/** What the plan knows of one forward of the watched container. */
export interface PlannedForward {
  port: number;
  origin: PortOrigin;
  /** It holds a host port; false while its host port could not be had (taken, requireLocalPort). */
  open: boolean;
  /** Reads in a row it was absent from, and when the first of them happened. */
  missedReads: number;
  missingSince: number;
  /** When a host port was last tried for it. */
  lastAttemptAt: number;
}

/** One listener of a read, with what the plan needs to know of it. */
export interface ReadListener {
  listener: PortListener;
  /** The command line listening, when it could be seen. */
  process: string | null;
  /** One of the relay agent's own sockets: never a server of the container's. */
  agents: boolean;
  /** portsAttributes says `onAutoForward: ignore` for it. */
  ignored: boolean;
}

/** The container whose listeners are read, as far as the plan goes. */
export interface WatchedContainer {
  name: string;
  /** Network mode host: its servers listen on the host already (see TargetContainer). */
  hostNetwork: boolean;
  publishedPorts: readonly PublishedPort[];
}

/** What the plan starts from: the forwards so far and what was said once already. */
export interface PlanState {
  container: WatchedContainer;
  forwards: readonly PlannedForward[];
  /** The cap (or the host network) was reported: it is said once per forwarder. */
  limitReported: boolean;
  /** Published ports already said not to be forwarded again. */
  publishedReported: ReadonlySet<number>;
}

/** One thing to carry out, in order. */
export type PlanAction =
  /** A `failed` event for a port that gets no forward, with why. */
  | { type: 'fail'; port: number; reason: string }
  /** A new detected forward. */
  | { type: 'open'; listener: PortListener; process: string | null }
  /** A forward whose listener is there again: its missed reads are forgotten, its dial refreshed. */
  | { type: 'keep'; port: number; listener: PortListener; process: string | null }
  /** A forward without a host port, tried again quietly. */
  | { type: 'retry'; port: number }
  /** A forward whose listener was absent from this read, not yet for long enough to go. */
  | { type: 'miss'; port: number; missedReads: number; missingSince: number }
  | { type: 'withdraw'; port: number; reason: string };

export interface Plan {
  actions: PlanAction[];
  limitReported: boolean;
  publishedReported: ReadonlySet<number>;
}

/**
 * Pure: what one read of a container's listeners asks for, given the forwards so far and the time.
 * New listeners are forwarded (up to AUTO_FORWARD_CAP detected ones, unless ignored, published by
 * the engine or on the host's network); forwards without a host port are retried every
 * RETRY_FAILED_MS; a detected forward is withdrawn once its listener has been absent from
 * WITHDRAW_AFTER_MISSED_READS reads in a row and for WITHDRAW_GRACE_MS. Declared forwards stay.
 */
export function plan(previous: PlanState, read: readonly ReadListener[], now: number): Plan {
  const { container } = previous;
  const actions: PlanAction[] = [];
  let limitReported = previous.limitReported;
  const publishedReported = new Set(previous.publishedReported);
  const byPort = new Map(previous.forwards.map((f) => [f.port, f]));
  let detected = previous.forwards.filter((f) => f.origin === 'detected').length;
  // On the host's network the listeners are the host's own (ours among them): none is the
  // container's to forward.
  const first = read[0];
  if (container.hostNetwork && first && !limitReported) {
    limitReported = true;
    actions.push({ type: 'fail', port: first.listener.port, reason: hostNetworkReason(container.name) });
  }
  const seen = new Set<number>();
  for (const { listener, process, agents, ignored } of container.hostNetwork ? [] : read) {
    const { port } = listener;
    // A read has one listener per port (see groupListenersByPort); a second one changes nothing.
    if (agents || seen.has(port)) continue;
    const published = container.publishedPorts.filter(
      (p) => p.protocol === (listener.protocol ?? 'tcp') && p.containerPort === port,
    );
    if (published.length > 0) {
      if (!publishedReported.has(port)) {
        publishedReported.add(port);
        actions.push({ type: 'fail', port, reason: publishedReason(port, published) });
      }
      continue;
    }
    seen.add(port);
    const existing = byPort.get(port);
    if (existing) {
      actions.push({ type: 'keep', port, listener, process });
      if (!existing.open && now - existing.lastAttemptAt >= RETRY_FAILED_MS)
        actions.push({ type: 'retry', port });
      continue;
    }
    if (ignored) continue;
    if (detected >= AUTO_FORWARD_CAP) {
      if (!limitReported) {
        limitReported = true;
        actions.push({ type: 'fail', port, reason: capReason(port) });
      }
      continue;
    }
    detected += 1;
    actions.push({ type: 'open', listener, process });
  }
  for (const forward of previous.forwards) {
    if (forward.origin !== 'detected' || seen.has(forward.port)) continue;
    const missedReads = forward.missedReads + 1;
    const missingSince = missedReads === 1 ? now : forward.missingSince;
    if (missedReads >= WITHDRAW_AFTER_MISSED_READS && now - missingSince >= WITHDRAW_GRACE_MS) {
      actions.push({
        type: 'withdraw',
        port: forward.port,
        reason: 'the server in the container stopped listening',
      });
    } else {
      actions.push({ type: 'miss', port: forward.port, missedReads, missingSince });
    }
  }
  return { actions, limitReported, publishedReported };
}

/** Pure: why a declared port is not forwarded, or null when it is. */
export function declaredRefusal(
  container: Pick<WatchedContainer, 'name' | 'hostNetwork'>,
  port: number,
): string | null {
  if (!container.hostNetwork) return null;
  // A forward would take the host port from the server itself, and relay to itself.
  return `container ${container.name} uses the host's network (network mode host): its server for port ${port} listens on the host at port ${port} itself, so the port is not forwarded (a forward would take the port from it)`;
}

function hostNetworkReason(name: string): string {
  return `container ${name} uses the host's network (network mode host): its servers already listen on the host at their own ports, so none is auto-forwarded`;
}

function publishedReason(port: number, published: readonly PublishedPort[]): string {
  const where = published.map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort ?? '?'}`).join(', ');
  return `port ${port} is published by the engine itself at ${where} (appPort, docker run -p or Compose ports): it is reachable there already, so it is not forwarded a second time`;
}

function capReason(port: number): string {
  return `more than ${AUTO_FORWARD_CAP} ports listen in the container; port ${port} and later ones are not auto-forwarded (declare the ones you need with forwardPorts or --forward-port)`;
}
