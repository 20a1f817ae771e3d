import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { statePaths } from '../common/state-dir.js';
import type { PortEvent } from '../forwarding/port-entry.js';
import { inScope, type Scope } from './ports.js';

/** How often forwarder logs are checked for new events. */
export const WATCH_POLL_MS = 200;
const MAX_READ_BYTES = 1 << 20;

/**
 * Streams port events as forwarders write them to their logs, until `signal` aborts. Only events
 * written after the watch starts are reported; forwarders that start later are picked up.
 */
export async function watchPortEvents(
  stateDir: string,
  scope: Scope,
  onEvent: (event: PortEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const dir = statePaths(stateDir).forwarders;
  const offsets = new Map<string, number>();
  for (const file of await logFiles(dir)) offsets.set(file, await sizeOf(file));
  const partial = new Map<string, string>();
  while (!signal.aborted) {
    for (const file of await logFiles(dir)) {
      const size = await sizeOf(file);
      let offset = offsets.get(file) ?? 0;
      if (size < offset) offset = 0; // rotated or truncated: start over
      if (size === offset) continue;
      const { text, end } = await readRange(file, offset, Math.min(size, offset + MAX_READ_BYTES));
      offsets.set(file, end);
      const lines = ((partial.get(file) ?? '') + text).split('\n');
      partial.set(file, lines.pop() ?? '');
      for (const line of lines) {
        const event = eventOf(line);
        if (event && inScope(scope, event.containerId)) onEvent(event);
      }
    }
    await sleep(WATCH_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}

/** The port event in one daemon log line, or null. */
export function eventOf(line: string): PortEvent | null {
  if (!line.includes('"portEvent"')) return null;
  try {
    const parsed = JSON.parse(line) as { portEvent?: PortEvent };
    const event = parsed.portEvent;
    return event && typeof event.containerId === 'string' && typeof event.type === 'string' ? event : null;
  } catch {
    return null;
  }
}

async function logFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.log')).map((name) => join(dir, name));
  } catch {
    return [];
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function readRange(file: string, start: number, end: number): Promise<{ text: string; end: number }> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), end: start + bytesRead };
  } finally {
    await handle.close();
  }
}
