import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RuntimeError, UsageError, errorMessage } from '../common/errors.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import type { ProcessRunner, RunResult } from '../runtime/process-runner.js';
import { composeFileName, composeProjectName, type ComposeSource } from './compose-project.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './labels.js';

/** The standalone Compose v1 program, used when `docker compose` does not answer. */
export const COMPOSE_V1_COMMAND = 'docker-compose';

/** How long `compose version` may take to answer before that Compose counts as absent. */
export const COMPOSE_PROBE_TIMEOUT_MS = 30_000;

/** How to run Compose: `docker compose …` (v2) or `docker-compose …` (v1). */
export interface ComposeCli {
  file: string;
  /** Arguments before the Compose arguments: `['compose']` for v2, none for v1. */
  prefix: string[];
}

/**
 * The workspace's Compose project name (see composeProjectName), with the workspace's `.env` file
 * read for COMPOSE_PROJECT_NAME as the Dev Containers CLI reads it. A `.env` that cannot be read
 * for another reason than its absence is an error: a silently different project name would start a
 * second set of containers.
 */
export async function readComposeProjectName(
  config: { workspaceFolderHost: string },
  source: ComposeSource,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const file = path.join(config.workspaceFolderHost, '.env');
  const dotEnv = await readFile(file, 'utf8').catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') return null;
    throw new UsageError(`cannot read ${file}: ${errorMessage(error)}`, {
      code: 'CONFIG_INVALID',
      description: 'It may set COMPOSE_PROJECT_NAME. Make it readable, or remove it.',
    });
  });
  return composeProjectName(config, source, env, dotEnv, await readComposeName(source.files));
}

/** The top-level `name:` of the Compose files, the last file that sets one winning; null if none does. */
async function readComposeName(files: readonly string[]): Promise<string | null> {
  for (const file of [...files].reverse()) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const name = composeFileName(text);
    if (name !== null) return name;
  }
  return null;
}

/** Finds a working Compose: `<docker> compose` when it answers, else `docker-compose`. */
export async function findComposeCli(runner: ProcessRunner, dockerPath: string): Promise<ComposeCli> {
  const candidates: ComposeCli[] = [
    { file: dockerPath, prefix: ['compose'] },
    { file: COMPOSE_V1_COMMAND, prefix: [] },
  ];
  for (const cli of candidates) {
    const result = await tryRun(runner, cli.file, [...cli.prefix, 'version']);
    if (result?.exitCode === 0) return cli;
  }
  throw new RuntimeError(`neither '${dockerPath} compose' nor '${COMPOSE_V1_COMMAND}' answers`, {
    description: 'Install Docker Compose (the compose plugin, or docker-compose) to use dockerComposeFile.',
  });
}

/** The container of a Compose project's service (the running one first), or null when it has none. */
export async function findServiceContainer(
  docker: Docker,
  project: string,
  service: string,
): Promise<ContainerInfo | null> {
  const ids = await docker.listByLabels({
    [COMPOSE_PROJECT_LABEL]: project,
    [COMPOSE_SERVICE_LABEL]: service,
  });
  const containers: ContainerInfo[] = [];
  for (const id of ids) {
    const info = await docker.inspect(id);
    if (info && info.status !== 'removing') containers.push(info);
  }
  return containers.find((c) => c.running) ?? containers[0] ?? null;
}

async function tryRun(runner: ProcessRunner, file: string, args: string[]): Promise<RunResult | null> {
  try {
    return await runner.run(file, args, { timeoutMs: COMPOSE_PROBE_TIMEOUT_MS });
  } catch {
    return null;
  }
}
