import { lstat, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { isSameProcessAlive, readProcessArgv } from '../common/process-info.js';
import { shortId } from '../common/short-id.js';
import { refuseLinkedStateFile, stateWriteError, type StatePaths } from '../common/state-dir.js';
import { DAEMON_SUBCOMMAND } from './daemon-subcommand.js';

/** What a running forwarder leaves on disk so that `up` can reuse it and `down` can reap it. */
export interface ForwarderMarker {
  pid: number;
  /** Clock ticks since boot, /proc/PID/stat field 22: guards against a recycled pid. */
  startTime: number;
  containerId: string;
  containerName: string;
  logFile: string;
  startedAt: string;
}

/** Where the files of one container's forwarder live. */
export function forwarderFiles(paths: StatePaths, containerId: string) {
  const base = join(paths.forwarders, containerId);
  return {
    marker: `${base}.json`,
    log: `${base}.log`,
    spawnLock: `${base}.spawn`,
    spec: `${base}.spec.json`,
    /** Which path serves each reverse port (see reverse-paths.ts). */
    reverse: `${base}.reverse.json`,
    /**
     * A remote engine's SSH link: the engine socket it forwards (its control socket and container
     * dial sockets beside it, see linkSocketFiles). The short id keeps the path within a socket
     * path's 108 bytes.
     */
    engineSocket: join(paths.forwarders, `${shortId(containerId)}.engine.sock`),
  };
}

/** A marker is a few hundred bytes; a bigger file is damage and is not read. */
export const MARKER_MAX_BYTES = 64 * 1024;

/**
 * Reads a marker; null when absent or damaged (unreadable, not a marker, absurdly large): a damaged
 * marker is treated as no forwarder. A symlink in its place is refused.
 */
export async function readMarker(paths: StatePaths, containerId: string): Promise<ForwarderMarker | null> {
  const file = forwarderFiles(paths, containerId).marker;
  await refuseLinkedStateFile(file, 'forwarder marker');
  try {
    const stats = await lstat(file);
    if (stats.size > MARKER_MAX_BYTES) return null;
    return parseMarker(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Validates marker text; null when it is not a marker. */
export function parseMarker(raw: string): ForwarderMarker | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  const ok =
    Number.isSafeInteger(m.pid) &&
    (m.pid as number) > 0 &&
    Number.isSafeInteger(m.startTime) &&
    typeof m.containerId === 'string' &&
    /^[0-9a-f]{64}$/.test(m.containerId) &&
    typeof m.containerName === 'string' &&
    typeof m.logFile === 'string' &&
    typeof m.startedAt === 'string';
  return ok ? (m as unknown as ForwarderMarker) : null;
}

/** Writes this process's marker atomically, mode 0600. */
export async function writeMarker(paths: StatePaths, marker: ForwarderMarker): Promise<void> {
  const file = forwarderFiles(paths, marker.containerId).marker;
  // write-file-atomic writes to a symlink's target: never let a planted link choose where.
  await refuseLinkedStateFile(file, 'forwarder marker');
  await writeFileAtomic(file, JSON.stringify(marker) + '\n', { mode: 0o600 }).catch((error: unknown) => {
    throw stateWriteError(paths.root, `write the forwarder marker ${file}`, error);
  });
}

/** Removes the marker if it still names `pid` (a newer forwarder's marker is left alone). */
export async function removeMarker(paths: StatePaths, containerId: string, pid: number): Promise<void> {
  const current = await readMarker(paths, containerId);
  if (current === null || current.pid === pid) {
    await rm(forwarderFiles(paths, containerId).marker, { force: true });
  }
}

/**
 * True only when the marker's process is alive, started when the marker says, and is a forwarder for
 * that very container: a pid the kernel has handed to another program is never taken for ours.
 */
export async function isMarkerLive(marker: ForwarderMarker): Promise<boolean> {
  if (!(await isSameProcessAlive(marker.pid, marker.startTime))) return false;
  const argv = await readProcessArgv(marker.pid);
  return argv !== null && argv.includes(DAEMON_SUBCOMMAND) && argv.includes(marker.containerId);
}

/** The ids of the containers that have a marker in this state dir. */
export async function listMarkedContainers(paths: StatePaths): Promise<string[]> {
  try {
    const names = await readdir(paths.forwarders);
    return names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).map((n) => n.slice(0, 64));
  } catch {
    return [];
  }
}

/** Deletes what a container's forwarder left on disk (log, rotated log, spec): for a removed container. */
export async function forgetForwarder(paths: StatePaths, containerId: string): Promise<void> {
  const files = forwarderFiles(paths, containerId);
  await Promise.all(
    [files.log, `${files.log}.1`, files.spec, files.marker, files.reverse].map((file) =>
      rm(file, { force: true }),
    ),
  );
}
