import path from 'node:path';

/** A Compose source, as devcontainer.json gives it: its files (absolute paths) and service. */
export interface ComposeSource {
  kind: 'compose';
  files: string[];
  service: string;
  runServices: string[] | null;
}

/** The project name when nothing better can be made of the folder name. */
export const FALLBACK_PROJECT_NAME = 'devcontainer';

/**
 * The Compose project name, as the Dev Containers CLI chooses it: COMPOSE_PROJECT_NAME from the
 * environment when set; else from the workspace's `.env` file (`dotEnv`, its text, null when there is
 * none); else the Compose files' top-level `name:` (`composeName`); else, when the first Compose file sits in the workspace's `.devcontainer` folder,
 * `<workspace>_devcontainer`; else the name of the first Compose file's folder. Lowercased, keeping
 * only `a-z 0-9 - _`.
 */
export function composeProjectName(
  config: { workspaceFolderHost: string },
  source: ComposeSource,
  env: Readonly<Record<string, string | undefined>>,
  dotEnv: string | null = null,
  composeName: string | null = null,
): string {
  const fromEnv = toProjectName(env.COMPOSE_PROJECT_NAME ?? '');
  if (fromEnv) return fromEnv;
  const fromDotEnv = toProjectName(/^COMPOSE_PROJECT_NAME=(.+)$/m.exec(dotEnv ?? '')?.[1]?.trim() ?? '');
  if (fromDotEnv) return fromDotEnv;
  const fromFiles = toProjectName(composeName ?? '');
  if (fromFiles) return fromFiles;
  const composeFolder = path.dirname(source.files[0] ?? path.join(config.workspaceFolderHost, 'x'));
  const name =
    composeFolder === path.join(config.workspaceFolderHost, '.devcontainer')
      ? `${path.basename(config.workspaceFolderHost)}_devcontainer`
      : path.basename(composeFolder);
  return toProjectName(name) || FALLBACK_PROJECT_NAME;
}

function toProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^-_a-z0-9]/g, '')
    .replace(/^[-_]+/, '');
}

/** Pure: the top-level `name:` of a Compose file's text, or null when it has none. */
export function composeFileName(text: string): string | null {
  const match = /^name:[ \t]*["']?([^"'\s#]+)/m.exec(text);
  return match?.[1] ?? null;
}
