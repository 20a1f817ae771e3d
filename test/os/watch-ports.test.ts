import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readProcessStartTime } from '../../src/common/process-info.js';
import { statePaths, type StatePaths } from '../../src/common/state-dir.js';
import {
  publicEntry,
  type PortEntry,
  type PortEvent,
  type PublicPortEntry,
} from '../../src/forwarding/port-entry.js';
import { updateEntries } from '../../src/forwarding/host/registry.js';
import type { Scope } from '../../src/operations/ports.js';
import { watchPortEvents } from '../../src/operations/watch-ports.js';

const MINE = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const WAIT_MS = 5_000;
/** No test here damages the registry: a warning about it is a failure. */
const unexpected = (message: string): never => {
  throw new Error(`unexpected registry warning: ${message}`);
};

let root: string;
let paths: StatePaths;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'portpilot-watch-'));
  paths = statePaths(root);
  mkdirSync(paths.forwarders, { recursive: true, mode: 0o700 });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A registry entry held by this (live) process, so that the registry keeps it. */
async function entryFor(containerId: string, containerPort: number): Promise<PortEntry> {
  return {
    containerId,
    containerName: containerId.slice(0, 4),
    service: null,
    containerPort,
    hostAddress: '127.0.0.1',
    hostPort: containerPort,
    protocol: 'tcp',
    origin: 'detected',
    allocation: 'same',
    label: null,
    process: null,
    forwarderPid: process.pid,
    forwarderStartTime: (await readProcessStartTime(process.pid)) ?? 0,
    since: new Date().toISOString(),
    path: 'direct',
  };
}

/** One line of a forwarder's log carrying a port event, as the daemon's logger writes it. */
function eventLine(containerId: string, containerPort: number, type: PortEvent['type']): string {
  const portEvent = { ...portFields(containerId, containerPort), type, at: new Date().toISOString() };
  return `${JSON.stringify({ level: 30, time: Date.now(), portEvent, msg: `port ${containerPort} ${type}` })}\n`;
}

function portFields(containerId: string, containerPort: number) {
  return { containerId, containerName: containerId.slice(0, 4), containerPort, hostPort: containerPort };
}

function logOf(containerId: string): string {
  return join(paths.forwarders, `${containerId}.log`);
}

type Seen = { kind: 'watching'; ports: PublicPortEntry[]; at: string } | { kind: 'event'; event: PortEvent };

/** Runs a watch until `until` holds for what it reported (or WAIT_MS passes); resolves to that. */
async function watchUntil(
  scope: Scope,
  onWatching: () => void,
  until: (seen: Seen[]) => boolean,
): Promise<Seen[]> {
  const seen: Seen[] = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), WAIT_MS);
  const check = () => {
    if (until(seen)) stop.abort();
  };
  await watchPortEvents(
    root,
    scope,
    {
      onWatching(ports, at) {
        seen.push({ kind: 'watching', ports, at });
        onWatching();
        check();
      },
      onEvent(event) {
        seen.push({ kind: 'event', event });
        check();
      },
      onWarning: unexpected,
    },
    stop.signal,
  );
  clearTimeout(timer);
  return seen;
}

const eventsIn = (seen: Seen[]) =>
  seen.flatMap((s) => (s.kind === 'event' ? [`${s.event.containerPort} ${s.event.type}`] : []));

describe('ports --watch: the watching signal', () => {
  it('comes first, lists the ports in scope forwarded then, and every event written after it is reported', async () => {
    await updateEntries(paths, () => [], { onWarning: unexpected });
    const mine = await entryFor(MINE, 3000);
    await updateEntries(paths, () => [mine, { ...mine, containerId: OTHER, containerName: 'bbbb' }], {
      onWarning: unexpected,
    });
    writeFileSync(logOf(MINE), eventLine(MINE, 3000, 'forwarded'), { mode: 0o600 });

    const scope: Scope = { kind: 'containers', containerIds: new Set([MINE]) };
    // The event is written at the very moment the watch says it is watching: it must not be missed.
    const seen = await watchUntil(
      scope,
      () =>
        appendFileSync(logOf(MINE), eventLine(MINE, 4000, 'forwarded') + eventLine(OTHER, 5000, 'failed')),
      (s) => eventsIn(s).length > 0,
    );

    expect(seen[0]?.kind).toBe('watching');
    const [watching] = seen;
    if (watching?.kind !== 'watching') throw new Error('no watching signal');
    expect(watching.ports).toStrictEqual([publicEntry(mine)]);
    expect(Number.isNaN(Date.parse(watching.at))).toBe(false);
    // The event written before the watch started is not reported again; the other container's is out of scope.
    expect(eventsIn(seen)).toEqual(['4000 forwarded']);
    expect(seen.filter((s) => s.kind === 'watching')).toHaveLength(1);
  });

  it('with nothing forwarded, lists no ports; a forwarder log that appears afterwards is read from its start', async () => {
    const seen = await watchUntil(
      { kind: 'all' },
      () =>
        writeFileSync(logOf(MINE), eventLine(MINE, 3000, 'forwarded') + eventLine(MINE, 3000, 'withdrawn')),
      (s) => eventsIn(s).length >= 2,
    );
    expect(seen[0]).toMatchObject({ kind: 'watching', ports: [] });
    expect(eventsIn(seen)).toEqual(['3000 forwarded', '3000 withdrawn']);
  });
});
