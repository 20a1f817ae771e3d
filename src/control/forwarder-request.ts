import { reversePortText, type ReversePort } from '../config/reverse-ports.js';
import type { DaemonSpec, DeclaredForward } from './daemon-spec.js';

/**
 * What `up` asks of a container's forwarder. A workspace's request is whole: its declared ports and
 * portsAttributes are the config's, so a port no longer declared goes. An attach (`--container-id`)
 * takes a running forwarder as it is and only adds: the ports in `added` (its --forward-port flags)
 * join the running ones, and it keeps its portsAttributes and, unless a relay path is given, its
 * relay path; its reverse ports are added to the running ones. `spec` is what a new forwarder starts with when none runs.
 */
export type ForwarderRequest =
  { kind: 'workspace'; spec: DaemonSpec } | { kind: 'attach'; spec: DaemonSpec; added: DeclaredForward[] };

/** The spec a forwarder should run with, and how it differs from the running one's. */
export interface ForwarderPlan {
  spec: DaemonSpec;
  /** What the request changes, for the user; empty when the running forwarder serves it as it is. */
  changes: string[];
}

/**
 * Pure: the spec to run for `request` when a forwarder already runs with `running` (null when its spec
 * cannot be read), and what changes. No change means the running forwarder is reused: replacing it
 * would cut its open connections, and its host ports could move.
 */
export function planForwarder(running: DaemonSpec | null, request: ForwarderRequest): ForwarderPlan {
  if (running === null) {
    return { spec: request.spec, changes: ['the running forwarder has no readable spec'] };
  }
  const wanted = request.spec;
  const spec: DaemonSpec =
    request.kind === 'workspace'
      ? wanted
      : {
          ...wanted,
          declared: mergeDeclared(running.declared, request.added),
          attributes: running.attributes,
          relayPath: wanted.relayPath ?? running.relayPath,
          ...(running.follow ? { follow: running.follow } : {}),
          ...reverseUnion(running.reversePorts ?? [], wanted.reversePorts ?? []),
        };
  return { spec, changes: specChanges(running, spec) };
}

/** Pure: what differs between two specs of one container, in words. */
export function specChanges(before: DaemonSpec, after: DaemonSpec): string[] {
  const changes: string[] = [];
  if (before.dockerPath !== after.dockerPath) {
    changes.push(`--docker-path ${before.dockerPath} → ${after.dockerPath}`);
  }
  if (before.hostAddress !== after.hostAddress) {
    changes.push(`--host-address ${before.hostAddress} → ${after.hostAddress}`);
  }
  if (before.relayPath !== after.relayPath) {
    changes.push(`--relay-path ${before.relayPath ?? 'auto'} → ${after.relayPath ?? 'auto'}`);
  }
  const added = after.declared.filter((port) => !before.declared.some((old) => sameForward(old, port)));
  const removed = before.declared.filter((port) => !after.declared.some((now) => sameForward(now, port)));
  if (added.length > 0) changes.push(`declared ports added: ${added.map(forwardText).join(', ')}`);
  if (removed.length > 0) changes.push(`declared ports removed: ${removed.map(forwardText).join(', ')}`);
  if (JSON.stringify(before.attributes) !== JSON.stringify(after.attributes)) {
    changes.push(
      after.attributes === null
        ? 'portsAttributes removed'
        : before.attributes === null
          ? 'portsAttributes added'
          : 'portsAttributes changed',
    );
  }
  const reverseBefore = before.reversePorts ?? [];
  const reverseAfter = after.reversePorts ?? [];
  const reverseAdded = reverseAfter.filter((port) => !reverseBefore.some((old) => sameReverse(old, port)));
  const reverseRemoved = reverseBefore.filter((port) => !reverseAfter.some((now) => sameReverse(now, port)));
  if (reverseAdded.length > 0)
    changes.push(`reverse ports added: ${reverseAdded.map(reversePortText).join(', ')}`);
  if (reverseRemoved.length > 0) {
    changes.push(`reverse ports removed: ${reverseRemoved.map(reversePortText).join(', ')}`);
  }
  if (JSON.stringify(before.follow ?? null) !== JSON.stringify(after.follow ?? null)) {
    changes.push('the workspace labels it follows through a rebuild changed');
  }
  return changes;
}

function mergeDeclared(running: readonly DeclaredForward[], wanted: readonly DeclaredForward[]) {
  const merged = [...running];
  for (const port of wanted) {
    if (
      !merged.some(
        (old) => old.service === port.service && old.port === port.port && old.protocol === port.protocol,
      )
    )
      merged.push(port);
  }
  return merged;
}

function sameForward(a: DeclaredForward, b: DeclaredForward): boolean {
  return (
    a.service === b.service &&
    a.port === b.port &&
    a.protocol === b.protocol &&
    a.containerId === b.containerId
  );
}

/** An attach's reverse ports join the running ones (a container port asked anew takes the new host port). */
function reverseUnion(running: readonly ReversePort[], wanted: readonly ReversePort[]) {
  const kept = running.filter((old) => !wanted.some((port) => port.containerPort === old.containerPort));
  const merged = [...kept, ...wanted];
  return merged.length === 0 ? {} : { reversePorts: merged };
}

function sameReverse(a: ReversePort, b: ReversePort): boolean {
  return a.hostPort === b.hostPort && a.containerPort === b.containerPort;
}

function forwardText(port: DeclaredForward): string {
  const text = port.service === null ? String(port.port) : `${port.service}:${port.port}`;
  return port.protocol === 'udp' ? `${text}/udp` : text;
}
