import { lstat, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { lockPrivateFile } from '../../common/private-lock.js';
import { errorMessage, StateError } from '../../common/errors.js';
import { readProcessStartTime } from '../../common/process-info.js';
import { ensureStateDir, stateWriteError, type StatePaths } from '../../common/state-dir.js';
import { describeNoHostPort, hostPortCandidates, isValidPort } from './host-port.js';
import { PROTOCOLS, RELAY_PATHS, type PortEntry } from '../port-entry.js';
import { shortId } from '../../common/short-id.js';
import type { Log } from '../../common/log.js';

/** A lock whose mtime is older than this belongs to a dead process and is taken over. */
export const LOCK_STALE_MS = 10_000;
/** How often the holder refreshes the lock's mtime. */
export const LOCK_UPDATE_MS = 2_000;
/** How long to wait for the lock; longer than LOCK_STALE_MS so a dead holder's lock is always outlived. */
export const LOCK_WAIT_MS = 12_000;
const LOCK_RETRY_MIN_MS = 5;
const LOCK_RETRY_MAX_MS = 50;
/** The registry file is private to its owner. */
export const REGISTRY_FILE_MODE = 0o600;
const REGISTRY_VERSION = 1;
/** Far above any real registry (an entry is ~500 bytes); a bigger file is damage, set aside unread. */
export const REGISTRY_MAX_BYTES = 8 * 1024 * 1024;

/** Binds a host port for the caller: true when bound (and kept by the caller), false when in use. */
export type TryBind = (hostPort: number) => Promise<boolean>;

/** What to register; the registry picks hostPort and allocation. */
export interface AllocationRequest {
  entry: Omit<PortEntry, 'hostPort' | 'allocation'>;
  requireLocalPort: boolean;
}

/** The registered entry, or why no host port could be had. */
export type AllocationResult = { ok: true; entry: PortEntry } | { ok: false; reason: string };

/** Optional last argument of every registry function. */
export interface RegistryOptions {
  /** Told about recoverable damage (a corrupt registry set aside, malformed entries dropped). */
  onWarning: Log;
}

/** Under the lock: picks a host port for the entry, binds it with tryBind and registers it. */
export async function allocatePort(
  paths: StatePaths,
  request: AllocationRequest,
  tryBind: TryBind,
  options: RegistryOptions,
): Promise<AllocationResult> {
  return withRegistry<AllocationResult>(paths, options, async ({ live }) => {
    const { containerPort, protocol } = request.entry;
    // TCP and UDP ports are apart: a host TCP port in use does not block the same UDP port.
    const holders = new Map(live.filter((e) => e.protocol === protocol).map((e) => [e.hostPort, e]));
    const choice = { requireLocalPort: request.requireLocalPort, taken: new Set(holders.keys()) };
    for (const { port, allocation } of hostPortCandidates(containerPort, choice)) {
      if (await tryBind(port)) {
        const entry: PortEntry = { ...request.entry, hostPort: port, allocation };
        return { entries: [...live, entry], result: { ok: true, entry } };
      }
    }
    const holder = holders.get(containerPort);
    const heldBy = holder && (holder.containerName || shortId(holder.containerId));
    return { result: { ok: false, reason: describeNoHostPort(containerPort, { ...choice, heldBy }) } };
  });
}

/** Removes the entries that match (dead or alive) and returns them. */
export async function releasePorts(
  paths: StatePaths,
  match: (entry: PortEntry) => boolean,
  options: RegistryOptions,
): Promise<PortEntry[]> {
  return withRegistry(paths, options, async ({ loaded, live }) => ({
    entries: live.filter((entry) => !match(entry)),
    result: loaded.filter(match),
  }));
}

/** The live entries; dead forwarders' entries are pruned from the file on the way. */
export async function listPorts(paths: StatePaths, options: RegistryOptions): Promise<PortEntry[]> {
  return withRegistry(paths, options, async ({ live }) => ({ result: live }));
}

/** Replaces the live entries with update(entries) under the lock; returns what was written. */
export async function updateEntries(
  paths: StatePaths,
  update: (entries: PortEntry[]) => PortEntry[],
  options: RegistryOptions,
): Promise<PortEntry[]> {
  return withRegistry(paths, options, async ({ live }) => {
    const entries = update(live.map((entry) => ({ ...entry })));
    return { entries, result: entries };
  });
}

interface Snapshot {
  /** Every well-formed entry in the file. */
  loaded: PortEntry[];
  /** Those whose forwarder is still the same live process. */
  live: PortEntry[];
}

async function withRegistry<T>(
  paths: StatePaths,
  options: RegistryOptions,
  body: (snapshot: Snapshot) => Promise<{ entries?: PortEntry[]; result: T }>,
): Promise<T> {
  const warn = options.onWarning;
  await ensureStateDir(paths.root);
  const lock = await acquireLock(paths.registry, paths.root);
  try {
    const { entries: loaded, dropped } = await readEntries(paths.registry, warn);
    const live = await pruneDead(loaded);
    const { entries = live, result } = await body({ loaded, live });
    if (dropped || JSON.stringify(entries) !== JSON.stringify(loaded)) {
      const compromised = lock.compromised();
      if (compromised) {
        throw new StateError(`lost the lock on ${paths.registry} before writing it`, {
          code: 'REGISTRY_FAILED',
          cause: compromised,
          description: 'The process was stalled longer than the lock stays valid; retry the command.',
        });
      }
      const text = `${JSON.stringify({ version: REGISTRY_VERSION, entries }, null, 2)}\n`;
      await writeFileAtomic(paths.registry, text, { mode: REGISTRY_FILE_MODE }).catch((error: unknown) => {
        throw stateWriteError(paths.root, `write the registry ${paths.registry}`, error);
      });
    }
    return result;
  } finally {
    await lock.release().catch((error: unknown) => {
      // The lock goes stale on its own; nothing is lost, but a stuck lock delays the next user.
      if (!lock.compromised())
        warn(`could not release the lock on ${paths.registry}: ${errorMessage(error)}`);
    });
  }
}

async function acquireLock(
  path: string,
  root: string,
): Promise<{ release: () => Promise<void>; compromised: () => Error | null }> {
  let compromised: Error | null = null;
  const release = await lockPrivateFile(path, {
    staleMs: LOCK_STALE_MS,
    updateMs: LOCK_UPDATE_MS,
    waitMs: LOCK_WAIT_MS,
    retryMs: { minMs: LOCK_RETRY_MIN_MS, maxMs: LOCK_RETRY_MAX_MS },
    // Remembered, so that the write is refused.
    onCompromised: (error) => {
      compromised = error;
    },
    // The lock is a directory made beside the registry: the state dir cannot be written.
    unusable: (error) => stateWriteError(root, `lock the registry ${path}`, error),
    busy: (error) =>
      new StateError(`could not lock the registry ${path}: ${errorMessage(error)}`, {
        code: 'REGISTRY_FAILED',
        cause: error,
        description: `Another portpilot holds it. If none is running, remove ${path}.lock.`,
      }),
  });
  return { release, compromised: () => compromised };
}

async function readEntries(path: string, warn: Log): Promise<{ entries: PortEntry[]; dropped: boolean }> {
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!stats) return { entries: [], dropped: false };
  if (stats.isSymbolicLink() || !stats.isFile()) {
    throw new StateError(
      `the registry ${path} is ${stats.isSymbolicLink() ? 'a symlink' : 'not a regular file'}`,
      {
        code: 'REGISTRY_FAILED',
        description: `Remove ${path}; portpilot recreates it as a regular file (forwards rebuild as forwarders restart).`,
      },
    );
  }
  // A registry this big was not written by portpilot: it is set aside unread, so that reading and
  // parsing it cannot stall every command (or exhaust the forwarder's memory).
  const tooBig = stats.size > REGISTRY_MAX_BYTES;
  const data = tooBig ? undefined : parseJson(await readFile(path, 'utf8'));
  if (!isRegistryShape(data)) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside).catch((error: unknown) => {
      throw stateWriteError(dirname(path), `set the damaged registry ${path} aside`, error);
    });
    const what = tooBig ? `larger than ${REGISTRY_MAX_BYTES} bytes` : 'not a valid registry';
    warn(`the registry ${path} was ${what}; moved it to ${aside} and started empty`);
    // Reported as damage so the caller writes a fresh, valid file in its place.
    return { entries: [], dropped: true };
  }
  const entries = data.entries.filter(isPortEntry);
  const dropped = data.entries.length - entries.length;
  if (dropped > 0)
    warn(`dropped ${dropped} malformed entr${dropped === 1 ? 'y' : 'ies'} from the registry ${path}`);
  return { entries, dropped: dropped > 0 };
}

async function pruneDead(entries: readonly PortEntry[]): Promise<PortEntry[]> {
  const startTimes = new Map<number, number | null>();
  for (const { forwarderPid } of entries) {
    if (!startTimes.has(forwarderPid)) startTimes.set(forwarderPid, await readProcessStartTime(forwarderPid));
  }
  // A pid whose start time differs was reused by another process: the forwarder is gone.
  return entries.filter((entry) => startTimes.get(entry.forwarderPid) === entry.forwarderStartTime);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRegistryShape(data: unknown): data is { version: 1; entries: unknown[] } {
  if (typeof data !== 'object' || data === null) return false;
  const record = data as Record<string, unknown>;
  return record.version === REGISTRY_VERSION && Array.isArray(record.entries);
}

const isString = (v: unknown): boolean => typeof v === 'string';
const isNullableString = (v: unknown): boolean => v === null || typeof v === 'string';
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isPort = (v: unknown): boolean => isValidPort(v as number);
const oneOf =
  (...allowed: unknown[]) =>
  (v: unknown): boolean =>
    allowed.includes(v);

// Keyed by every PortEntry field, so a new field does not compile until it is checked here too.
const ENTRY_FIELD_CHECKS: Record<keyof PortEntry, (value: unknown) => boolean> = {
  containerId: (v) => isString(v) && v !== '',
  containerName: isString,
  service: isNullableString,
  containerPort: isPort,
  hostAddress: isString,
  hostPort: isPort,
  protocol: oneOf(...PROTOCOLS),
  origin: oneOf('declared', 'detected'),
  allocation: oneOf('same', 'remapped-in-use', 'remapped-privileged'),
  label: isNullableString,
  process: isNullableString,
  forwarderPid: (v) => isCount(v) && v !== 0,
  forwarderStartTime: isCount,
  since: isString,
  path: oneOf(...RELAY_PATHS),
  urlScheme: oneOf(undefined, null, 'http', 'https'),
};

function isPortEntry(value: unknown): value is PortEntry {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return Object.entries(ENTRY_FIELD_CHECKS).every(([field, check]) => check(record[field]));
}
