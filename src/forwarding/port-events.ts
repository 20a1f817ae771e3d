import type { PortAttributes } from '../config/types.js';
import type { PortEntry, PortEvent, PortEventType, PortOrigin } from './port-entry.js';
import type { TargetContainer } from './forward-state.js';

/** A registry entry before its host port is had: what an event about the port says. */
export type EntryDraft = Omit<PortEntry, 'hostPort' | 'allocation' | 'path'>;

/** This forwarder, as its entries name it. */
export interface EntryOwner {
  hostAddress: string;
  forwarder: { pid: number; startTime: number };
}

/** The entry of a port of `target` that this forwarder forwards, bar its host port and path. */
export function entryDraft(
  owner: EntryOwner,
  target: Pick<TargetContainer, 'id' | 'name' | 'service'>,
  port: number,
  origin: PortOrigin,
  label: string | null = null,
  process: string | null = null,
): EntryDraft {
  return {
    containerId: target.id,
    containerName: target.name,
    service: target.service,
    containerPort: port,
    hostAddress: owner.hostAddress,
    protocol: 'tcp',
    origin,
    label,
    process,
    forwarderPid: owner.forwarder.pid,
    forwarderStartTime: owner.forwarder.startTime,
    since: new Date().toISOString(),
  };
}

/** An event about a port, as logged and streamed (the forwarder's start time left out). */
export function portEvent(
  type: PortEventType,
  entry: EntryDraft & Partial<Pick<PortEntry, 'hostPort' | 'allocation' | 'path'>>,
  reason?: string,
): PortEvent {
  const { forwarderStartTime: _ignored, ...rest } = entry;
  return {
    ...rest,
    hostPort: entry.hostPort ?? null,
    allocation: entry.allocation ?? null,
    path: entry.path ?? null,
    type,
    at: new Date().toISOString(),
    ...(reason === undefined ? {} : { reason }),
  };
}

/** The event of a port forwarded, as its portsAttributes shape it. */
export function forwardedEvent(
  entry: PortEntry,
  attributes: Pick<PortAttributes, 'onAutoForward' | 'elevateIfNeeded'>,
): PortEvent {
  const notify = attributes.onAutoForward !== 'silent';
  // portpilot never elevates; the port is still forwarded, and the event says where.
  const note =
    attributes.elevateIfNeeded && entry.allocation === 'remapped-privileged'
      ? `elevateIfNeeded is set, but portpilot does not elevate: port ${entry.containerPort} is on host port ${entry.hostPort}`
      : undefined;
  return {
    ...portEvent('forwarded', entry, note),
    notify,
    ...(attributes.onAutoForward ? { onAutoForward: attributes.onAutoForward } : {}),
  };
}
