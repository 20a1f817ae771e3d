import { RuntimeError } from '../common/errors.js';
import type { DevContainerConfig } from '../config/types.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { workspaceLabels } from './labels.js';
import { withPassedEnv } from './passed-env.js';
import { containerNameFor, dockerRunArgs, namesContainer } from './run-args.js';

/** How many lines of a container's log an error shows when it stops right after starting. */
export const EXIT_LOG_LINES = 20;

/**
 * Creates and starts the workspace's container from `image` with `docker run -d`. It is named after
 * devcontainer.json's `name` unless runArgs name it, or another container already has that name (then
 * Docker chooses one, as it does when there is no `name`).
 */
export async function createContainer(
  docker: Docker,
  config: DevContainerConfig,
  image: string,
  progress: (message: string) => void,
): Promise<ContainerInfo> {
  let name = namesContainer(config.runArgs) ? null : containerNameFor(config.name);
  if (name !== null) {
    const holder = await docker.inspect(name);
    if (holder) {
      progress(`The name ${name} is taken by container ${holder.id.slice(0, 12)}; Docker will choose one.`);
      name = null;
    }
  }
  progress(`Creating the dev container from ${image}…`);
  const target = { image, labels: workspaceLabels(config), name };
  const { stdout } = await withPassedEnv(config.containerEnv, ({ flags, processEnv }) =>
    docker.cli(dockerRunArgs(config, target, flags), { env: processEnv }),
  );
  const id = stdout.trim().split('\n').pop() ?? '';
  return ensureRunning(docker, id);
}

/** Inspects a container that was just started; fails, with its log, when it is not running. */
export async function ensureRunning(docker: Docker, id: string): Promise<ContainerInfo> {
  const info = await docker.inspect(id);
  if (!info) {
    throw new RuntimeError(`container ${id.slice(0, 12)} vanished right after it was started`, {
      description:
        'Something removed it (docker run --rm in runArgs?). Keep the container, then run up again.',
    });
  }
  if (info.running) return info;
  const logs = await docker.runner.run(docker.dockerPath, [
    'logs',
    '--tail',
    String(EXIT_LOG_LINES),
    info.id,
  ]);
  throw new RuntimeError(`container ${info.name} stopped right after it started (${info.status})`, {
    code: 'CONTAINER_NOT_RUNNING',
    description:
      `Its last output:\n${`${logs.stdout}${logs.stderr}`.trim() || '(none)'}\n` +
      'Its command must keep running: leave overrideCommand true, or give the image a long-running command.',
  });
}

/** Starts a stopped workspace container and returns it running. */
export async function startContainer(
  docker: Docker,
  container: ContainerInfo,
  progress: (message: string) => void,
): Promise<ContainerInfo> {
  progress(`Starting container ${container.name}…`);
  await docker.start(container.id);
  return ensureRunning(docker, container.id);
}
