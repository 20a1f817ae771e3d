import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'jsonc-parser';
import { findConfigFile } from '../config/find-config.js';
import { isJsonObject } from '../config/config-values.js';
import { readComposeProjectName } from './compose.js';

/**
 * The Compose project of the workspace's own devcontainer.json, named as the reference CLI names it
 * (COMPOSE_PROJECT_NAME, `.env`, the Compose files' top-level `name:`, the folder rule); null when the
 * workspace has no devcontainer.json or it uses no Compose.
 */
export async function workspaceComposeProject(
  folder: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | null> {
  const configFile = await findConfigFile(folder).catch(() => null);
  if (configFile === null) return null;
  const config: unknown = parse(await readFile(configFile, 'utf8').catch(() => ''), [], {
    allowTrailingComma: true,
  });
  if (!isJsonObject(config)) return null;
  const value = config.dockerComposeFile;
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const files = list
    .filter((file): file is string => typeof file === 'string' && file !== '')
    .map((file) => path.resolve(path.dirname(configFile), file));
  if (files.length === 0) return null;
  const source = { kind: 'compose' as const, files, service: '', runServices: null };
  return readComposeProjectName({ workspaceFolderHost: path.resolve(folder) }, source, env);
}
