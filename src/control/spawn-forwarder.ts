import { spawn } from 'node:child_process';
import { closeSync, constants, fchmodSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import writeFileAtomic from 'write-file-atomic';
import { lockPrivateFile } from '../common/private-lock.js';
import { errorOfCode, ForwarderError, StateError } from '../common/errors.js';
import {
  makeStateSubdir,
  refuseLinkedStateFile,
  stateWriteError,
  type StatePaths,
} from '../common/state-dir.js';
import { parseDaemonSpec, type DaemonSpec } from './daemon-spec.js';
import { findForwarderProcesses } from './find-forwarder.js';
import { planForwarder, type ForwarderRequest } from './forwarder-request.js';
import { DAEMON_SUBCOMMAND } from './daemon-subcommand.js';
import { forwarderFiles, isMarkerLive, readMarker } from './marker.js';
import { reapForwarder } from './reap-forwarder.js';
import { shortId } from '../common/short-id.js';
import { READY_FD, parseReady, type ReadyMessage } from './ready-signal.js';
import type { Log } from '../common/log.js';

/** How long `up` waits for a new forwarder to say it is ready. */
export const READY_TIMEOUT_MS = 60_000;
const SPAWN_LOCK_STALE_MS = 90_000;
/** How long `up` waits for another `up` that is starting the same container's forwarder. */
const SPAWN_LOCK_WAIT_MS = 150_000;
const SPAWN_LOCK_RETRY_MS = 100;

export interface ForwarderHandle {
  pid: number;
  logFile: string;
  reused: boolean;
  /** The forwarder this one replaced, and what the request changed; absent when none was replaced. */
  replaced?: { pid: number; changes: string[] };
}

/**
 * Node's flags for the forwarder, which lives for days. A 1 MB young generation (the default grows
 * to 16 MB) bounds what a busy spell leaves resident: after 4 s of `wrk` through one forward, 70 MB
 * instead of 96; idle it makes no difference (about 55 MB, 43 of them Node's own code). The relay
 * reads into one buffer per connection, so little is allocated per chunk and nothing measured got
 * slower. V8's lite mode would save 6 MB more but halves requests per second (no optimising
 * compiler for the per-connection code). One V8 worker thread instead of one per core (its
 * background compiling and marking) saves about 0.6 MB more: the forwarder's work is one event loop.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=1'];

const CLI_ENTRY = fileURLToPath(new URL('../../bin/portpilot.js', import.meta.url));

/**
 * Starts the container's forwarder, or returns the live one when the request changes nothing it runs
 * with (see planForwarder). The decision is made under a per-container lock, so any number of
 * concurrent `up` runs end with exactly one forwarder.
 */
export async function ensureForwarder(
  paths: StatePaths,
  request: ForwarderRequest,
  warn: Log,
): Promise<ForwarderHandle> {
  let spec = request.spec;
  const files = forwarderFiles(paths, spec.containerId);
  await makeStateSubdir(paths.root, paths.forwarders);
  const release = await lockSpawn(paths, files.spawnLock);
  try {
    const marker = await readMarker(paths, spec.containerId);
    // A live forwarder whose marker is gone or damaged is found by its command line: starting a
    // second one would leave two forwarders fighting over the container's ports.
    const live =
      marker && (await isMarkerLive(marker))
        ? { pid: marker.pid, logFile: marker.logFile }
        : (await findForwarderProcesses(paths, spec.containerId)).map(({ pid }) => ({
            pid,
            logFile: files.log,
          }))[0];
    let replaced: ForwarderHandle['replaced'];
    if (live) {
      // A request the running forwarder already serves reuses it; one that changes something (ports
      // declared, attributes) replaces it, so that what `up` was asked for is what runs.
      const plan = planForwarder(await readSpec(files.spec), request);
      if (plan.changes.length === 0) return { ...live, reused: true };
      spec = plan.spec;
      replaced = { pid: live.pid, changes: plan.changes };
      await reapForwarder(paths, spec.containerId, warn);
    }
    await refuseLinkedStateFile(files.spec, 'forwarder spec');
    await writeFileAtomic(files.spec, specText(spec), { mode: 0o600 }).catch((error: unknown) => {
      throw stateWriteError(paths.root, `write ${files.spec}`, error);
    });
    const pid = await spawnAndAwaitReady(paths, files.log, files.spec, spec.containerId);
    return { pid, logFile: files.log, reused: false, ...(replaced ? { replaced } : {}) };
  } finally {
    await release().catch(() => undefined);
  }
}

/** Takes the container's spawn lock, waiting for another `up` that holds it (not for a broken dir). */
async function lockSpawn(paths: StatePaths, lockPath: string): Promise<() => Promise<void>> {
  return lockPrivateFile(lockPath, {
    staleMs: SPAWN_LOCK_STALE_MS,
    updateMs: 10_000,
    waitMs: SPAWN_LOCK_WAIT_MS,
    retryMs: { minMs: SPAWN_LOCK_RETRY_MS, maxMs: SPAWN_LOCK_RETRY_MS },
    unusable: (error) => stateWriteError(paths.root, `lock ${lockPath}`, error),
    busy: (error) =>
      new StateError(`cannot lock ${lockPath}: another portpilot up holds it`, {
        cause: error,
        description: `Wait for the other up to finish. If none is running, remove ${lockPath}.lock.`,
      }),
  });
}

/**
 * Spawns the detached daemon and resolves with its pid once it reports ready. It needs no `ulimit` of
 * its own: Node raises its soft open-file limit to the hard one as it starts (on Linux and macOS), so
 * each connection's descriptors (see README) count against the hard limit it inherits.
 */
async function spawnAndAwaitReady(
  paths: StatePaths,
  logFile: string,
  specFile: string,
  containerId: string,
): Promise<number> {
  const logFd = openLog(paths, logFile);
  let child;
  try {
    child = spawn(
      process.execPath,
      [
        ...DAEMON_NODE_FLAGS,
        CLI_ENTRY,
        DAEMON_SUBCOMMAND,
        '--container-id',
        containerId,
        '--spec-file',
        specFile,
      ],
      { detached: true, stdio: ['ignore', logFd, logFd, 'pipe'], env: process.env },
    );
  } finally {
    closeSync(logFd);
  }
  const channel = child.stdio[READY_FD];
  if (!channel) throw new ForwarderError('the forwarder started without its readiness channel');

  const message = await new Promise<ReadyMessage | null>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(null), READY_TIMEOUT_MS);
    channel.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(parseReady(text.slice(0, newline)));
      }
    });
    channel.on('error', () => undefined);
    channel.on('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
  channel.destroy();
  child.unref();

  if (message?.ok) return message.pid;
  if (message === null) {
    child.kill('SIGKILL');
    const tail = await readLogTail(logFile);
    throw new ForwarderError(
      `the forwarder for container ${shortId(containerId)} exited before it was ready`,
      {
        description: tail ? `Last lines of ${logFile}:\n${tail}` : `See ${logFile}.`,
      },
    );
  }
  // The forwarder's error comes back as the class its code belongs to.
  throw errorOfCode(message.code ?? 'FORWARDER_FAILED', message.message, {
    description: message.description,
  });
}

/** Opens the log for appending, 0600, refusing a symlink planted in its place. */
function openLog(paths: StatePaths, logFile: string): number {
  let fd: number;
  try {
    fd = openSync(
      logFile,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new StateError(`the forwarder log ${logFile} is a symlink`, {
        cause: error,
        description: 'Remove it: portpilot creates its state files itself and never writes through a link.',
      });
    }
    throw stateWriteError(paths.root, `open ${logFile}`, error);
  }
  // A log left by an older portpilot may be readable by others.
  fchmodSync(fd, 0o600);
  return fd;
}

/** The spec the running forwarder was started with; null when it cannot be read as one. */
async function readSpec(file: string): Promise<DaemonSpec | null> {
  try {
    return parseDaemonSpec(await readFile(file, 'utf8'), file);
  } catch {
    return null;
  }
}

function specText(spec: DaemonSpec): string {
  return JSON.stringify(spec) + '\n';
}

async function readLogTail(logFile: string): Promise<string> {
  try {
    const lines = (await readFile(logFile, 'utf8')).trim().split('\n');
    return lines.slice(-8).join('\n');
  } catch {
    return '';
  }
}
