import { resolve } from 'node:path';
import { RuntimeError, UsageError } from '../common/errors.js';
import { statePaths } from '../common/state-dir.js';
import { listMarkedContainers } from '../control/marker.js';
import { Docker } from '../runtime/docker.js';
import { localRunner } from '../runtime/process-runner.js';
import { COMPOSE_PROJECT_LABEL, LOCAL_FOLDER_LABEL } from '../workspace/labels.js';
import type { CommonOptions } from './forwarder-options.js';
import type { Scope } from './ports.js';
import { workspaceComposeProject } from '../workspace/workspace-compose.js';

/** Pure: refuses --container-id together with --workspace-folder (each names the containers alone). */
export function refuseBothScopes(flags: {
  containerId?: string | null;
  workspaceFolder?: string | null;
}): void {
  if (flags.containerId && flags.workspaceFolder) {
    throw new UsageError('give --container-id or --workspace-folder, not both');
  }
}

/** Turns --container-id / --workspace-folder into the set of container ids a command acts on. */
export async function resolveScope(
  common: CommonOptions,
  flags: { containerId?: string; workspaceFolder?: string },
  options: { required: boolean },
): Promise<Scope> {
  refuseBothScopes(flags);
  const docker = new Docker(localRunner, common.dockerPath);
  if (flags.containerId) {
    return {
      kind: 'containers',
      containerIds: new Set([await resolveContainerId(docker, common, flags.containerId)]),
    };
  }
  if (flags.workspaceFolder) {
    const folder = resolve(flags.workspaceFolder);
    const composeProject = await workspaceComposeProject(folder, process.env);
    const ids = await workspaceContainerIds(docker, folder, composeProject);
    return { kind: 'containers', containerIds: new Set(ids), composeProject };
  }
  if (options.required) {
    throw new UsageError('say which container: --container-id ID or --workspace-folder DIR');
  }
  return { kind: 'all' };
}

/**
 * The containers of a workspace: those labelled with its folder, and those of its Compose project,
 * named as the workspace's own config names it. A container's own project label is never followed:
 * an image can carry any label (Docker copies them to its containers), another project's included.
 */
export async function workspaceContainerIds(
  docker: Docker,
  folder: string,
  composeProject: string | null,
): Promise<string[]> {
  const ids = new Set(await docker.listByLabels({ [LOCAL_FOLDER_LABEL]: folder }));
  if (composeProject !== null) {
    for (const id of await docker.listByLabels({ [COMPOSE_PROJECT_LABEL]: composeProject })) ids.add(id);
  }
  return [...ids];
}

/**
 * A full container id for a reference. A container that no longer exists can still be named by its
 * full id, or by a unique prefix of the id its forwarder was started for, so that its leftovers can be
 * listed and cleaned up.
 */
export async function resolveContainerId(
  docker: Docker,
  common: CommonOptions,
  ref: string,
): Promise<string> {
  const info = await docker.inspect(ref);
  if (info) return info.id;
  if (/^[0-9a-f]{64}$/.test(ref)) return ref;
  if (/^[0-9a-f]{4,63}$/.test(ref)) {
    const marked = (await listMarkedContainers(statePaths(common.stateDir))).filter((id) =>
      id.startsWith(ref),
    );
    if (marked.length === 1 && marked[0]) return marked[0];
  }
  throw new RuntimeError(`no container '${ref}'`, {
    code: 'CONTAINER_NOT_FOUND',
    description: `'${common.dockerPath} ps -a' lists the containers there are.`,
  });
}
