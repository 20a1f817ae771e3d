import { statePaths } from '../common/state-dir.js';
import { forgetForwarder } from '../control/marker.js';
import { reapForwarder, type ReapResult } from '../control/reap-forwarder.js';
import { Docker, type ContainerInfo } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import { COMPOSE_PROJECT_LABEL } from '../workspace/labels.js';
import type { CommonOptions } from './forwarder-options.js';
import { warningsTo, type Log } from '../common/log.js';

/** The containers `down` acts on, and whether it removes them. */
export interface DownOptions extends CommonOptions {
  containerIds: string[];
  remove: boolean;
  /**
   * For a workspace: its Compose project as its own config names it (null without Compose), the only
   * project whose networks may go. Absent for containers named by id: their own projects' networks.
   */
  composeProject?: string | null;
}

/** What `down` did to one container. */
export type DownAction = 'stopped' | 'removed' | 'absent';

/** The line `down` prints: what it did to each container. */
export interface DownResult {
  outcome: 'success';
  containers: Array<{ containerId: string; forwarderPid: number | null; action: DownAction }>;
}

/**
 * Reaps the forwarder of every container given (their ports are free once this returns), then stops
 * or removes the containers, all at once. When the last container of a Compose project is removed,
 * the networks Compose made for it go too, as `compose down` would do.
 */
export async function down(
  options: DownOptions,
  deps: { runner: ProcessRunner; progress: Log },
): Promise<DownResult> {
  const docker = new Docker(deps.runner, options.dockerPath);
  const paths = statePaths(options.stateDir);
  // Every forwarder first: one may be dialling another of these containers (a Compose service's port).
  const reaped = new Map<string, ReapResult>();
  for (const containerId of options.containerIds) {
    const result = await reapForwarder(paths, containerId, warningsTo(deps.progress));
    if (options.remove) await forgetForwarder(paths, containerId);
    if (result.pid !== null) {
      deps.progress(
        `Stopped forwarder ${result.pid}${result.killed ? ' (killed after the grace period)' : ''}.`,
      );
    }
    reaped.set(containerId, result);
  }
  const containers = await Promise.all(
    options.containerIds.map(async (containerId) => {
      const container = await docker.inspect(containerId);
      const action: DownAction = container
        ? await stopOrRemove(docker, container, options.remove, deps.progress)
        : 'absent';
      return { containerId, forwarderPid: reaped.get(containerId)?.pid ?? null, action, container };
    }),
  );
  if (options.remove) {
    const projects =
      options.composeProject === undefined
        ? new Set(containers.flatMap(({ container }) => container?.composeProject ?? []))
        : new Set(options.composeProject === null ? [] : [options.composeProject]);
    for (const project of projects) await removeProjectNetworks(docker, project, deps.progress);
  }
  return {
    outcome: 'success',
    containers: containers.map(({ containerId, forwarderPid, action }) => ({
      containerId,
      forwarderPid,
      action,
    })),
  };
}

async function stopOrRemove(
  docker: Docker,
  container: ContainerInfo,
  remove: boolean,
  progress: Log,
): Promise<'stopped' | 'removed'> {
  if (remove) {
    progress(`Removing container ${container.name}…`);
    await docker.remove(container.id);
    return 'removed';
  }
  if (container.running) {
    progress(`Stopping container ${container.name}…`);
    await docker.stop(container.id);
  }
  return 'stopped';
}

/** Removes a Compose project's networks once no container of the project is left. */
async function removeProjectNetworks(docker: Docker, project: string, progress: Log): Promise<void> {
  if ((await docker.listByLabels({ [COMPOSE_PROJECT_LABEL]: project })).length > 0) return;
  const filter = `label=${COMPOSE_PROJECT_LABEL}=${project}`;
  const { stdout } = await docker.cli(['network', 'ls', '-q', '--filter', filter]);
  const networks = stdout.split('\n').filter((line) => line.trim() !== '');
  if (networks.length === 0) return;
  progress(`Removing the networks of Compose project ${project}…`);
  await docker.cli(['network', 'rm', ...networks]);
}
