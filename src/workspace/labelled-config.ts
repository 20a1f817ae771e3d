import { realpath } from 'node:fs/promises';
import { readDevContainerConfig } from '../config/read-config.js';
import type { DevContainerConfig } from '../config/types.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { isInside, labelledWorkspace, workspaceLabels } from './labels.js';

/**
 * The devcontainer.json of the workspace a container was made for, as its labels name it (see
 * labelledWorkspace for when they are followed); null when there is none to follow. A refusal is
 * reported through `warn`, naming the container and why. A followed config must also be that
 * workspace's own, read as the workspace reads it: the labels a container of it gets are exactly the
 * container's, and the config file still lies inside the folder once symlinks are resolved.
 */
export async function readLabelledConfig(
  docker: Docker,
  container: Pick<ContainerInfo, 'name' | 'labels' | 'imageId' | 'image'>,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): Promise<DevContainerConfig | null> {
  const refuse = (reason: string) => {
    warn(
      `warning: not using the devcontainer.json named by the labels of container ${container.name}: ` +
        `${reason}. Name the workspace with --workspace-folder to use its devcontainer.json.`,
    );
    return null;
  };
  if (labelledWorkspace(container.labels, {}).kind === 'none') return null;
  let imageLabels: Record<string, string>;
  try {
    imageLabels = await docker.imageLabels(container.imageId || container.image);
  } catch {
    return refuse(`the labels of its image ${container.image} cannot be read`);
  }
  const verdict = labelledWorkspace(container.labels, imageLabels);
  if (verdict.kind === 'none') return null;
  if (verdict.kind === 'refused') return refuse(verdict.reason);
  const real = await Promise.all([realpath(verdict.workspaceFolder), realpath(verdict.configFile)]).catch(
    () => null,
  );
  // A workspace that is gone: the command runs as `docker exec` would run it.
  if (real === null) return null;
  if (!isInside(real[0], real[1])) {
    return refuse(`its config file ${verdict.configFile} leads outside ${verdict.workspaceFolder}`);
  }
  const config = await readDevContainerConfig(verdict.workspaceFolder, verdict.configFile, env).catch(
    () => null,
  );
  if (config === null) return null;
  const own = workspaceLabels(config);
  if (Object.entries(own).some(([key, value]) => container.labels[key] !== value)) {
    return refuse(`its labels do not match those of the workspace ${config.workspaceFolderHost}`);
  }
  return config;
}
