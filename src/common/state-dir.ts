import { chmod, lstat, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { StateError } from './errors.js';
import { checkStateDirAncestry } from './state-dir-ancestry.js';

/** The state dir and its files are private to the user who owns them. */
export const STATE_DIR_MODE = 0o700;

/** Where portpilot keeps its state: --state-dir, else PORTPILOT_STATE_DIR, else the XDG state home. */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.PORTPILOT_STATE_DIR) return resolve(env.PORTPILOT_STATE_DIR);
  const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return resolve(stateHome, 'portpilot');
}

/** The files inside a state dir. Each has one owning module; this only names them. */
export interface StatePaths {
  root: string;
  /** Host-global registry of forwarded ports (forwarding/host/registry.ts). */
  registry: string;
  /** Per-container markers, logs and spawn locks (control/marker.ts). */
  forwarders: string;
}

export function statePaths(root: string): StatePaths {
  return { root, registry: join(root, 'registry.json'), forwarders: join(root, 'forwarders') };
}

// Why a write in the state dir failed, by errno, and what the user can do about it.
const WRITE_FAILURES: Record<string, { why: string; fix: string }> = {
  EROFS: { why: 'is on a read-only file system', fix: 'Remount it read-write' },
  ENOSPC: {
    why: 'is on a full disk (no space left on device)',
    fix: 'Free some space on the file system that holds it',
  },
  EDQUOT: { why: 'is over its disk quota', fix: 'Free some space within the quota' },
  EACCES: { why: 'is not writable (permission denied)', fix: 'Make it writable by you (mode 0700)' },
  EPERM: {
    why: 'is not writable (operation not permitted)',
    fix: 'Make it writable by you (an immutable attribute? see lsattr)',
  },
};

/**
 * A failure to create or write something in the state dir, as an error that names the dir, says
 * why in words (read-only, full, not writable) and how to fix it.
 */
export function stateWriteError(root: string, action: string, error: unknown): StateError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const detail = error instanceof Error ? error.message : String(error);
  const known = WRITE_FAILURES[code];
  const why = known?.why ?? `cannot be written (${detail})`;
  const fix = known?.fix ?? 'Check the directory';
  return new StateError(`the state dir ${root} ${why}: cannot ${action}`, {
    cause: error,
    description: `${fix}, or choose another dir with --state-dir or PORTPILOT_STATE_DIR. (${detail})`,
  });
}

/**
 * Creates a directory of the state dir (0700, parents too) or tightens a looser one found there (made
 * by hand, an older version or another umask); a failure says why, naming `root`.
 */
export async function makeStateSubdir(root: string, dir: string): Promise<void> {
  await createDir(root, dir);
  // lstat: a link is never followed to change the mode of what it points at.
  const stats = await lstat(dir);
  if (stats.isDirectory() && stats.uid === process.getuid?.()) await makePrivate(root, dir, stats.mode);
}

async function createDir(root: string, dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: STATE_DIR_MODE });
  } catch (error) {
    // A recursive mkdir reports ENOENT where the parent exists but refuses (EROFS, say): a plain
    // mkdir of the last step tells the real reason.
    const real =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? await mkdir(dir, { mode: STATE_DIR_MODE }).then(
            () => null,
            (again: unknown) => again,
          )
        : error;
    if (real !== null) throw stateWriteError(root, `create ${dir}`, real);
  }
}

async function makePrivate(root: string, dir: string, mode: number): Promise<void> {
  if ((mode & 0o777) === STATE_DIR_MODE) return;
  await chmod(dir, STATE_DIR_MODE).catch((error: unknown) => {
    throw stateWriteError(root, `make ${dir === root ? 'it' : dir} private (mode 0700)`, error);
  });
}

/** Creates the state dir (0700) if needed, tightens a looser mode, and refuses one that is unsafe. */
export async function ensureStateDir(root: string): Promise<void> {
  await checkStateDirAncestry(root);
  await createDir(root, root);
  // lstat, not stat: a symlink could point the registry and its lock at a place another user controls.
  const stats = await lstat(root);
  if (stats.isSymbolicLink()) {
    throw new StateError(`the state dir ${root} is a symlink`, {
      description: `Remove the symlink or point --state-dir / PORTPILOT_STATE_DIR at a real directory.`,
    });
  }
  if (!stats.isDirectory()) {
    throw new StateError(`the state dir ${root} is not a directory`, {
      description: 'Move the file away or choose another dir with --state-dir or PORTPILOT_STATE_DIR.',
    });
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw new StateError(`the state dir ${root} is owned by uid ${stats.uid}, not by you (uid ${uid})`, {
      description: `Run portpilot as its owner, or choose a dir of your own with --state-dir or PORTPILOT_STATE_DIR.`,
    });
  }
  await makePrivate(root, root, stats.mode);
}

/**
 * Refuses a state file that is a symlink (or not a regular file): portpilot writes its files itself,
 * and writing through a planted link would put them, or overwrite something, elsewhere.
 */
export async function refuseLinkedStateFile(path: string, what: string): Promise<void> {
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (stats && (stats.isSymbolicLink() || !stats.isFile())) {
    throw new StateError(
      `the ${what} ${path} is ${stats.isSymbolicLink() ? 'a symlink' : 'not a regular file'}`,
      {
        description: `Remove it: portpilot creates its state files itself and never writes through a link.`,
      },
    );
  }
}
