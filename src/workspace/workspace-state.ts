import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { ensureStateDir, STATE_DIR_MODE } from '../common/state-dir.js';
import type { DevContainerConfig } from '../config/types.js';

/** Hex digits of the config-path hash that names a workspace's folder in the state dir. */
export const WORKSPACE_KEY_CHARS = 16;

/** The state dir's folder for one workspace's files (keyed by its config file, as its container is). */
export function workspaceStateFolder(
  stateDir: string,
  config: Pick<DevContainerConfig, 'configFile'>,
): string {
  const key = createHash('sha256').update(config.configFile).digest('hex').slice(0, WORKSPACE_KEY_CHARS);
  return join(stateDir, 'workspaces', key);
}

/** Writes the workspace's generated Compose override file (mode 0600); resolves to its path. */
export async function writeComposeOverrideFile(
  stateDir: string,
  config: Pick<DevContainerConfig, 'configFile'>,
  content: Record<string, unknown>,
): Promise<string> {
  await ensureStateDir(stateDir);
  const folder = workspaceStateFolder(stateDir, config);
  await mkdir(folder, { recursive: true, mode: STATE_DIR_MODE });
  const file = join(folder, 'docker-compose.devcontainer.json');
  await writeFileAtomic(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  return file;
}
