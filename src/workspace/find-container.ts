import type { DevContainerConfig } from '../config/types.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { findServiceContainer } from './compose.js';
import { workspaceLabels } from './labels.js';

/**
 * The workspace's existing dev containers, running ones first: those labelled with its folder and config
 * file (whoever made them: portpilot, the Dev Containers CLI, VS Code, or `docker run -l …`); for a
 * Compose workspace without such a container, the container of its service in its project.
 */
export async function findWorkspaceContainers(
  docker: Docker,
  config: Pick<DevContainerConfig, 'workspaceFolderHost' | 'configFile' | 'source'>,
  composeProject: string | null,
): Promise<ContainerInfo[]> {
  const found: ContainerInfo[] = [];
  for (const id of await docker.listByLabels(workspaceLabels(config))) {
    const info = await docker.inspect(id);
    // A container being removed (rm -f in flight) is as good as gone.
    if (info && info.status !== 'removing') found.push(info);
  }
  if (found.length === 0 && composeProject !== null && config.source.kind === 'compose') {
    const service = await findServiceContainer(docker, composeProject, config.source.service);
    if (service) found.push(service);
  }
  return found.sort((a, b) => Number(b.running) - Number(a.running));
}
