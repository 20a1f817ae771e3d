import { chmod, lstat, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { StateError } from './errors.js';

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
  /** Host-global registry of forwarded ports (forwarding/registry.ts). */
  registry: string;
  /** Per-container markers, logs and spawn locks (daemon/marker.ts). */
  forwarders: string;
}

export function statePaths(root: string): StatePaths {
  return { root, registry: join(root, 'registry.json'), forwarders: join(root, 'forwarders') };
}

/** Creates the state dir (0700) if needed, tightens a looser mode, and refuses one that is unsafe. */
export async function ensureStateDir(root: string): Promise<void> {
  try {
    await mkdir(root, { recursive: true, mode: STATE_DIR_MODE });
  } catch (error) {
    throw new StateError(`cannot create the state dir ${root}: ${(error as Error).message}`, {
      cause: error,
      description: 'Make its parent writable, or choose another dir with --state-dir or PORTPILOT_STATE_DIR.',
    });
  }
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
  if ((stats.mode & 0o777) !== STATE_DIR_MODE) await chmod(root, STATE_DIR_MODE);
}
