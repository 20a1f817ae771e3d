import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { statePaths } from '../common/state-dir.js';
import { ROTATED_LOG_SUFFIX } from '../daemon/daemon-log.js';
import type { Log } from '../common/log.js';
import type { PortEvent, PublicPortEntry } from '../forwarding/port-entry.js';
import { inScope, listForwardedPorts, type Scope } from './ports.js';

/** How often forwarder logs are checked for new events. */
export const WATCH_POLL_MS = 200;
const MAX_READ_BYTES = 1 << 20;

/** How far into one forwarder log the watch has read. */
interface Cursor {
  /** The inode read: a different one at the same path means the log was rotated. */
  ino: number;
  offset: number;
  /** The start of a line whose end is not written yet. */
  partial: string;
  /** Keeps a UTF-8 character split between two reads whole. */
  decoder: StringDecoder;
}

/** What a watch reports, in order: once that it is watching, then each event. */
export interface WatchHandlers {
  /**
   * Called once, before any event: from here on, every event a forwarder writes is reported.
   * `ports`: what was forwarded at that moment (in scope); `at`: the ISO time.
   */
  onWatching(ports: PublicPortEntry[], at: string): void;
  onEvent(event: PortEvent): void;
  /** Told about registry damage found while listing the ports (see listForwardedPorts). */
  onWarning: Log;
}

/**
 * Streams port events as forwarders write them to their logs, until `signal` aborts. Only events
 * written after the watch starts are reported (onWatching says when that is); forwarders that start
 * later are picked up. A log that a forwarder rotates (renames to `<log>.1` and starts afresh) is
 * followed without losing the events written between two polls: the rest of the renamed file is
 * read first.
 */
export async function watchPortEvents(
  stateDir: string,
  scope: Scope,
  handlers: WatchHandlers,
  signal: AbortSignal,
): Promise<void> {
  const dir = statePaths(stateDir).forwarders;
  const cursors = new Map<string, Cursor>();
  for (const file of await logFiles(dir)) {
    const info = await statOf(file);
    if (info) cursors.set(file, newCursor(info.ino, info.size));
  }
  // The ports are listed after the logs' ends are taken: a port forwarded in between shows in the
  // list and again as an event, never in neither.
  handlers.onWatching(
    await listForwardedPorts(stateDir, scope, handlers.onWarning),
    new Date().toISOString(),
  );
  const emit = (line: string) => {
    const event = eventOf(line);
    if (event && inScope(scope, event.containerId)) handlers.onEvent(event);
  };
  while (!signal.aborted) {
    for (const file of await logFiles(dir)) {
      const info = await statOf(file);
      if (!info) continue;
      let cursor = cursors.get(file);
      if (cursor && cursor.ino !== info.ino) {
        const rotated = `${file}${ROTATED_LOG_SUFFIX}`;
        const old = await statOf(rotated);
        if (old?.ino === cursor.ino) await readOn(rotated, cursor, old.size, emit);
        cursor = undefined;
      } else if (cursor && info.size < cursor.offset) {
        cursor = undefined; // truncated: start over
      }
      if (!cursor) {
        cursor = newCursor(info.ino, 0);
        cursors.set(file, cursor);
      }
      await readOn(file, cursor, info.size, emit);
    }
    await sleep(WATCH_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}

/** Reads a log from the cursor up to `size`, handing each complete line on. */
async function readOn(file: string, cursor: Cursor, size: number, emit: (line: string) => void) {
  while (cursor.offset < size) {
    // The log may be gone meanwhile (its container removed): nothing more to read there.
    const read = await readRange(file, cursor.offset, Math.min(size, cursor.offset + MAX_READ_BYTES)).catch(
      () => null,
    );
    if (!read || read.end === cursor.offset) return;
    const { bytes, end } = read;
    cursor.offset = end;
    const lines = (cursor.partial + cursor.decoder.write(bytes)).split('\n');
    cursor.partial = lines.pop() ?? '';
    for (const line of lines) emit(line);
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

async function statOf(file: string): Promise<{ ino: number; size: number } | null> {
  try {
    const { ino, size } = await stat(file);
    return { ino, size };
  } catch {
    return null;
  }
}

function newCursor(ino: number, offset: number): Cursor {
  return { ino, offset, partial: '', decoder: new StringDecoder('utf8') };
}

async function readRange(file: string, start: number, end: number): Promise<{ bytes: Buffer; end: number }> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    return { bytes: buffer.subarray(0, bytesRead), end: start + bytesRead };
  } finally {
    await handle.close();
  }
}
