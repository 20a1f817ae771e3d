import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { RuntimeError, UsageError, errorMessage } from '../common/errors.js';
import type { DevContainerConfig } from '../config/types.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import type { ProcessRunner, RunResult } from '../runtime/process-runner.js';
import { composeFileVersion, composeProjectName, type ComposeSource } from './compose-project.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './labels.js';
import { lastLines, runStreamed } from './stream-command.js';

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

/** A Compose workspace whose files have been checked, ready to bring up. */
export interface ComposeWorkspace {
  cli: ComposeCli;
  project: string;
  source: ComposeSource;
  /** Every service the Compose files define. */
  services: string[];
}

/**
 * The workspace's Compose project name (see composeProjectName), with the workspace's `.env` file
 * read for COMPOSE_PROJECT_NAME as the Dev Containers CLI reads it. A `.env` that cannot be read
 * for another reason than its absence is an error: a silently different project name would start a
 * second set of containers.
 */
export async function readComposeProjectName(
  config: Pick<DevContainerConfig, 'workspaceFolderHost'>,
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
  return composeProjectName(config, source, env, dotEnv);
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

/**
 * Finds Compose and checks the Compose files before anything is started: they parse, and they define
 * `service` and every runServices entry. Nothing is touched.
 */
export async function prepareCompose(
  runner: ProcessRunner,
  dockerPath: string,
  config: Pick<DevContainerConfig, 'workspaceFolderHost'>,
  source: ComposeSource,
  env: Readonly<Record<string, string | undefined>>,
): Promise<ComposeWorkspace> {
  const cli = await findComposeCli(runner, dockerPath);
  const project = await readComposeProjectName(config, source, env);
  const result = await runner.run(cli.file, [
    ...cli.prefix,
    ...projectArgs(project, source.files),
    'config',
    '--services',
  ]);
  if (result.exitCode !== 0) {
    throw new UsageError(`dockerComposeFile: Compose cannot read ${source.files.join(', ')}`, {
      code: 'CONFIG_INVALID',
      description: `${lastLines(result.stderr.trim())}\nFix the Compose file(s) named by dockerComposeFile.`,
    });
  }
  const services = result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  for (const [property, name] of [
    ['service', source.service],
    ...(source.runServices ?? []).map((name, index) => [`runServices[${index}]`, name]),
  ]) {
    if (!services.includes(name)) {
      throw new UsageError(
        `${property}: "${name}" is not a service of ${source.files.join(', ')}; expected one of ${services.join(', ')}`,
        { code: 'CONFIG_INVALID', description: `Name a service the Compose file(s) define.` },
      );
    }
  }
  return { cli, project, source, services };
}

/** The first Compose file's `version:`, which the generated override file must repeat for Compose v1. */
export async function readComposeVersion(source: ComposeSource): Promise<string | null> {
  const first = source.files[0];
  if (first === undefined) return null;
  try {
    return composeFileVersion(await readFile(first, 'utf8'));
  } catch (error) {
    throw new UsageError(`dockerComposeFile: cannot read ${first}: ${errorMessage(error)}`, {
      code: 'CONFIG_INVALID',
      cause: error,
    });
  }
}

/**
 * `compose up -d` for the workspace's services (runServices plus the dev container's, or all), with
 * the override file last; `noRecreate` keeps existing containers as they are (they are only started).
 */
export async function composeUp(
  runner: ProcessRunner,
  compose: ComposeWorkspace,
  overrideFile: string,
  options: { noRecreate: boolean },
  output: Writable,
): Promise<void> {
  const { cli, project, source } = compose;
  const args = [...cli.prefix, ...projectArgs(project, [...source.files, overrideFile]), 'up', '-d'];
  if (options.noRecreate) args.push('--no-recreate');
  if (source.runServices !== null) {
    args.push(...source.runServices);
    if (!source.runServices.includes(source.service)) args.push(source.service);
  }
  const result = await runStreamed(runner, cli.file, args, output);
  if (result.exitCode !== 0) {
    throw new RuntimeError(
      `'${[cli.file, ...cli.prefix].join(' ')} up' failed (exit code ${result.exitCode})`,
      {
        description: lastLines(result.tail),
      },
    );
  }
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

function projectArgs(project: string, files: readonly string[]): string[] {
  return ['--project-name', project, ...files.flatMap((file) => ['-f', file])];
}

async function tryRun(runner: ProcessRunner, file: string, args: string[]): Promise<RunResult | null> {
  try {
    return await runner.run(file, args, { timeoutMs: COMPOSE_PROBE_TIMEOUT_MS });
  } catch {
    return null;
  }
}
