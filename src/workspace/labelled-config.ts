import { realpath } from 'node:fs/promises';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { isInside, labelledWorkspace } from './labels.js';
import type { Log } from '../common/log.js';

/** A workspace folder and its config file, as a container's labels name them. */
export interface LabelledWorkspaceFiles {
  workspaceFolder: string;
  configFile: string;
}

/**
 * The workspace a container was made for, as its labels name it, when they may be followed (see
 * labelledWorkspace: set on the container, not copied from its image, the config file inside the
 * folder), and the config file still lies inside the folder once symlinks are resolved; null when
 * there is none to follow. A refusal is reported through `warn`, naming the container and why.
 */
export async function readLabelledWorkspace(
  docker: Docker,
  container: Pick<ContainerInfo, 'name' | 'labels' | 'imageId' | 'image'>,
  warn: Log,
): Promise<LabelledWorkspaceFiles | null> {
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
  return { workspaceFolder: verdict.workspaceFolder, configFile: verdict.configFile };
}
