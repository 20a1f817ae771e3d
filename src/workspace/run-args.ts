import type { DevContainerConfig } from '../config/types.js';
import { KEEP_ALIVE_ARGS, KEEP_ALIVE_ENTRYPOINT } from './keep-alive.js';

/** The parts of a config that shape `docker run`. */
export type RunConfig = Pick<
  DevContainerConfig,
  'appPort' | 'workspaceMount' | 'mounts' | 'containerEnv' | 'containerUser' | 'runArgs' | 'overrideCommand'
>;

/** What `docker run` needs besides the config. */
export interface RunTarget {
  image: string;
  labels: Readonly<Record<string, string>>;
  /** A container name, or null to let Docker choose one. */
  name: string | null;
}

/** Longest container name portpilot derives from `name`, in characters. */
export const MAX_CONTAINER_NAME_CHARS = 63;

/**
 * The `docker run` argv (without the CLI itself) that creates a workspace's container, detached, in
 * the Dev Containers CLI's order: published appPorts, the workspace mount, mounts, labels, containerEnv,
 * containerUser, then runArgs (so the user's flags win, `--name` included), then the keep-alive
 * entrypoint when overrideCommand is true. containerEnv is there only as `envFlags`, the flags
 * withPassedEnv made for it, which name variables and a file but hold no value.
 */
export function dockerRunArgs(
  config: Omit<RunConfig, 'containerEnv'>,
  target: RunTarget,
  envFlags: readonly string[] = [],
): string[] {
  const args = ['run', '-d'];
  for (const port of config.appPort) args.push('-p', port.publish);
  if (config.workspaceMount) args.push('--mount', config.workspaceMount);
  for (const mount of config.mounts) args.push('--mount', mount);
  for (const [key, value] of Object.entries(target.labels)) args.push('-l', `${key}=${value}`);
  args.push(...envFlags);
  if (config.containerUser) args.push('-u', config.containerUser);
  if (target.name) args.push('--name', target.name);
  args.push(...config.runArgs);
  if (config.overrideCommand) args.push('--entrypoint', KEEP_ALIVE_ENTRYPOINT);
  args.push(target.image);
  if (config.overrideCommand) args.push(...KEEP_ALIVE_ARGS);
  return args;
}

/**
 * A container name made from devcontainer.json's `name`: characters Docker refuses
 * (it takes `[a-zA-Z0-9][a-zA-Z0-9_.-]+`) become `-`, leading ones go; null when nothing usable is left.
 */
export function containerNameFor(name: string | null): string | null {
  if (name === null) return null;
  const sanitized = name
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .slice(0, MAX_CONTAINER_NAME_CHARS)
    .replace(/-+$/, '');
  return sanitized.length >= 2 ? sanitized : null;
}

/** True when `args` (runArgs) name the container themselves. */
export function namesContainer(args: readonly string[]): boolean {
  return args.some((arg) => arg === '--name' || arg.startsWith('--name='));
}
