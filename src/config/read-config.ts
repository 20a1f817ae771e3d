import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError, errorMessage } from '../common/errors.js';
import { findConfigFile } from './find-config.js';
import { parseDevContainerConfig } from './parse-config.js';
import type { DevContainerConfig } from './types.js';

/** Finds, reads and parses the workspace's devcontainer.json, substituting `${localEnv:…}` from `env`. */
export async function readDevContainerConfig(
  workspaceFolder: string,
  configFlag?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<DevContainerConfig> {
  const configFile = await findConfigFile(workspaceFolder, configFlag);
  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${configFile}: ${errorMessage(error)}`, {
      code: 'CONFIG_NOT_FOUND',
      cause: error,
      description: 'Make the file readable by the current user, or pass --config another file.',
    });
  }
  return parseDevContainerConfig(text, configFile, path.resolve(workspaceFolder), env);
}
