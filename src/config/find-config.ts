import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../common/errors.js';

/** Where devcontainer.json is looked for, relative to the workspace folder, first match wins. */
export const CONFIG_FILE_CANDIDATES: readonly string[] = [
  path.join('.devcontainer', 'devcontainer.json'),
  '.devcontainer.json',
];

/**
 * The absolute path of the workspace's devcontainer.json: `configFlag` (relative to the current
 * directory) when given, else `.devcontainer/devcontainer.json`, else `.devcontainer.json`.
 */
export async function findConfigFile(workspaceFolder: string, configFlag?: string): Promise<string> {
  if (configFlag !== undefined) {
    const file = path.resolve(configFlag);
    if (await isFile(file)) return file;
    throw new UsageError(`--config ${file}: no such file`, {
      code: 'CONFIG_NOT_FOUND',
      description: 'Pass --config the path of an existing devcontainer.json.',
    });
  }
  const folder = path.resolve(workspaceFolder);
  const candidates = CONFIG_FILE_CANDIDATES.map((candidate) => path.join(folder, candidate));
  for (const candidate of candidates) {
    if (await isFile(candidate)) return candidate;
  }
  throw new UsageError(`no devcontainer.json in ${folder}: looked for ${candidates.join(' and ')}`, {
    code: 'CONFIG_NOT_FOUND',
    description:
      'Create .devcontainer/devcontainer.json in the workspace, pass --workspace-folder the folder that ' +
      'has one, or pass --config FILE.',
  });
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
