import type { DevContainerConfig } from '../config/types.js';

/** How a command runs in the dev container. */
export interface ExecSettings {
  /** Working directory in the container; null for the container's own. */
  workdir: string | null;
  env: Readonly<Record<string, string>>;
  /** The user to run as; null for the container's user. */
  user: string | null;
  /** Keep stdin open (`-i`). */
  interactive: boolean;
  /** Allocate a terminal (`-t`); only when our own stdin and stdout are terminals. */
  tty: boolean;
}

/** The settings a workspace's commands run with: in workspaceFolder, with containerEnv, as remoteUser. */
export function workspaceExecSettings(
  config: Pick<DevContainerConfig, 'workspaceFolder' | 'containerEnv' | 'remoteUser'>,
): Omit<ExecSettings, 'interactive' | 'tty'> {
  return { workdir: config.workspaceFolder, env: config.containerEnv, user: config.remoteUser };
}

/**
 * The `docker exec` argv (without the CLI itself) that runs `argv` in the container. The environment
 * is not in it: `envFlags` are the flags withPassedEnv made for `settings.env`, which name variables
 * and a file but hold no value.
 */
export function dockerExecArgs(
  containerId: string,
  argv: readonly string[],
  settings: Omit<ExecSettings, 'env'>,
  envFlags: readonly string[] = [],
): string[] {
  const args = ['exec'];
  if (settings.interactive) args.push('-i');
  if (settings.tty) args.push('-t');
  if (settings.workdir) args.push('-w', settings.workdir);
  args.push(...envFlags);
  if (settings.user) args.push('-u', settings.user);
  args.push(containerId, ...argv);
  return args;
}
