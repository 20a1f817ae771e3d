import path from 'node:path';
import { LOCAL_FOLDER_LABEL } from '../operations/scope.js';

/** The label the Dev Containers CLI and VS Code put on a workspace's container: its config file. */
export const CONFIG_FILE_LABEL = 'devcontainer.config_file';

/** The label Compose puts on every container of a project. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/** The label Compose puts on a container: the service it runs. */
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

/**
 * The labels that identify a workspace's dev container, as the Dev Containers CLI and VS Code set them,
 * so that a container made by any of them (or by `docker run` with these labels) is found and reused.
 */
export function workspaceLabels(config: {
  workspaceFolderHost: string;
  configFile: string;
}): Record<string, string> {
  return { [LOCAL_FOLDER_LABEL]: config.workspaceFolderHost, [CONFIG_FILE_LABEL]: config.configFile };
}

/** Pure: the workspace folder and config file a container's labels name (see workspaceLabels), or null. */
export function labelledWorkspace(
  labels: Readonly<Record<string, string>>,
): { workspaceFolder: string; configFile: string } | null {
  const workspaceFolder = labels[LOCAL_FOLDER_LABEL];
  const configFile = labels[CONFIG_FILE_LABEL];
  return workspaceFolder && configFile ? { workspaceFolder, configFile } : null;
}

/**
 * Pure: the workspace a container's labels name (see labelledWorkspace), when its config file lies
 * inside its folder; else null. Labels can come from an image, so a config elsewhere is never read.
 */
export function trustedLabelledWorkspace(
  labels: Readonly<Record<string, string>>,
): { workspaceFolder: string; configFile: string } | null {
  const workspace = labelledWorkspace(labels);
  if (workspace === null) return null;
  const { workspaceFolder, configFile } = workspace;
  if (!path.isAbsolute(workspaceFolder) || !path.isAbsolute(configFile)) return null;
  const inside = path.relative(path.resolve(workspaceFolder), path.resolve(configFile));
  return inside !== '' && inside.split(path.sep)[0] !== '..' && !path.isAbsolute(inside) ? workspace : null;
}

/**
 * Pure: the labels that find a workspace's container again after it is replaced, as the reference CLI
 * finds it: the `--id-label name=value` flags given to its `up`, else the folder and config file labels
 * the container carries; null when it has neither.
 */
export function workspaceIdLabels(
  upFlags: readonly string[],
  containerLabels: Readonly<Record<string, string>>,
): Record<string, string> | null {
  const fromFlags: Record<string, string> = {};
  upFlags.forEach((flag, index) => {
    const value =
      flag === '--id-label' ? upFlags[index + 1] : flag.startsWith('--id-label=') ? flag.slice(11) : null;
    const equals = value?.indexOf('=') ?? -1;
    if (value && equals > 0) fromFlags[value.slice(0, equals)] = value.slice(equals + 1);
  });
  if (Object.keys(fromFlags).length > 0) return fromFlags;
  const workspace = labelledWorkspace(containerLabels);
  return workspace
    ? workspaceLabels({ workspaceFolderHost: workspace.workspaceFolder, configFile: workspace.configFile })
    : null;
}
