import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { lockPrivateFile } from '../common/private-lock.js';
import { StateError, errorMessage } from '../common/errors.js';
import { ensureStateDir, makeStateSubdir } from '../common/state-dir.js';

/** Hex digits of the config-path hash that names a workspace's folder in the state dir. */
export const WORKSPACE_KEY_CHARS = 16;

/** The state dir's folder for one workspace's files (keyed by its config file, as its container is). */
export function workspaceStateFolder(stateDir: string, config: { configFile: string }): string {
  const key = createHash('sha256').update(config.configFile).digest('hex').slice(0, WORKSPACE_KEY_CHARS);
  return join(stateDir, 'workspaces', key);
}

async function ensureWorkspaceStateFolder(stateDir: string, config: { configFile: string }): Promise<string> {
  await ensureStateDir(stateDir);
  const folder = workspaceStateFolder(stateDir, config);
  await makeStateSubdir(stateDir, dirname(folder));
  await makeStateSubdir(stateDir, folder);
  return folder;
}

/** A workspace lock older than this (its holder stopped refreshing it: it died) is broken. */
export const WORKSPACE_LOCK_STALE_MS = 90_000;
/** How long `up` waits for another `up` of the same workspace, in attempts of at most 500 ms apart. */
const WORKSPACE_LOCK_WAIT_MS = 600_000;

/**
 * Runs `task` holding the workspace's lock, so that two `up` runs at once for one workspace create
 * one container (the second finds the first's) and do not run its lifecycle commands twice.
 */
export async function withWorkspaceLock<T>(
  stateDir: string,
  config: { configFile: string },
  task: () => Promise<T>,
): Promise<T> {
  const lockFile = join(await ensureWorkspaceStateFolder(stateDir, config), 'up.lock');
  const failed = (error: unknown) =>
    new StateError(`cannot lock ${lockFile}: ${errorMessage(error)}`, {
      cause: error,
      description: 'Another portpilot up for this workspace may still be running; wait for it, or try again.',
    });
  const release = await lockPrivateFile(lockFile, {
    staleMs: WORKSPACE_LOCK_STALE_MS,
    updateMs: WORKSPACE_LOCK_STALE_MS / 9,
    waitMs: WORKSPACE_LOCK_WAIT_MS,
    retryMs: { minMs: 50, maxMs: 500 },
    unusable: failed,
    busy: failed,
  });
  try {
    return await task();
  } finally {
    await release().catch(() => undefined);
  }
}
