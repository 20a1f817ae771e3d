import path from 'node:path';

/** The label the Dev Containers CLI and VS Code put on a workspace's container: its local folder. */
export const LOCAL_FOLDER_LABEL = 'devcontainer.local_folder';

/** The label the Dev Containers CLI and VS Code put on a workspace's container: its config file. */
export const CONFIG_FILE_LABEL = 'devcontainer.config_file';

// Compose's own labels are defined with the runtime that reads them; here for the workspace layer.
export { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from '../runtime/compose-labels.js';

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

/** What a container's workspace labels name: nothing, a workspace to follow, or one refused and why. */
export type LabelledWorkspace =
  | { kind: 'none' }
  | { kind: 'refused'; reason: string }
  | { kind: 'workspace'; workspaceFolder: string; configFile: string };

/**
 * Pure: the workspace folder and config file a container's labels name (see workspaceLabels), when
 * they may be followed. Labels are whatever the container's creator (or its image: Docker copies an
 * image's labels to its containers) chose to write, and the config they name is read on this host
 * with `${localEnv:…}` filled in, so they are followed only when both are absolute, neither came from
 * the image, and the config file lies inside the labelled folder.
 */
export function labelledWorkspace(
  labels: Readonly<Record<string, string>>,
  imageLabels: Readonly<Record<string, string>>,
): LabelledWorkspace {
  const workspaceFolder = labels[LOCAL_FOLDER_LABEL];
  const configFile = labels[CONFIG_FILE_LABEL];
  if (!workspaceFolder || !configFile) return { kind: 'none' };
  for (const [key, value] of [
    [LOCAL_FOLDER_LABEL, workspaceFolder],
    [CONFIG_FILE_LABEL, configFile],
  ] as const) {
    if (!path.isAbsolute(value))
      return { kind: 'refused', reason: `its ${key} label is not an absolute path` };
    if (imageLabels[key] === value) {
      return {
        kind: 'refused',
        reason: `its ${key} label comes from its image, not from whoever created it`,
      };
    }
  }
  if (!isInside(workspaceFolder, configFile)) {
    return {
      kind: 'refused',
      reason: `its ${CONFIG_FILE_LABEL} label (${configFile}) lies outside its ${LOCAL_FOLDER_LABEL} label (${workspaceFolder})`,
    };
  }
  return { kind: 'workspace', workspaceFolder, configFile };
}

/** Pure: true when `file` is a path strictly inside `folder` (both absolute). */
export function isInside(folder: string, file: string): boolean {
  const relative = path.relative(path.resolve(folder), path.resolve(file));
  return (
    relative !== '' &&
    !relative.startsWith(`..${path.sep}`) &&
    relative !== '..' &&
    !path.isAbsolute(relative)
  );
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
  const workspace = labelledWorkspace(containerLabels, {});
  return workspace.kind === 'workspace'
    ? workspaceLabels({ workspaceFolderHost: workspace.workspaceFolder, configFile: workspace.configFile })
    : null;
}
