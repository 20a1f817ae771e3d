import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PODMAN_CLI } from './podman-cli.js';

/** The container CLI used when no --docker-path names one and `docker` is on PATH. */
export const DOCKER_CLI = 'docker';

/** The CLI to use and, when it is not the one asked for by default, why. */
export interface ContainerCliChoice {
  dockerPath: string;
  /** One line for stderr when Podman stands in for a missing docker; null otherwise. */
  notice: string | null;
}

/**
 * Pure: the container CLI for a command line. `--docker-path` wins; without it `docker`, unless
 * PATH has no `docker` but does have `podman` (a Podman-only machine, where `docker` would only
 * fail). With neither, `docker`, whose absence the first command then reports with the fix.
 */
export function chooseContainerCli(
  flag: string | undefined,
  onPath: (name: string) => boolean,
): ContainerCliChoice {
  if (flag !== undefined) return { dockerPath: flag, notice: null };
  if (onPath(DOCKER_CLI) || !onPath(PODMAN_CLI)) return { dockerPath: DOCKER_CLI, notice: null };
  return {
    dockerPath: PODMAN_CLI,
    notice: `no '${DOCKER_CLI}' on PATH: using '${PODMAN_CLI}' (name another CLI with --docker-path)`,
  };
}

/** Whether an executable file of this name is in one of PATH's directories (as a shell finds it). */
export function isOnPath(name: string, pathEnv: string | undefined = process.env.PATH): boolean {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      // Not here, or not executable: the next directory.
    }
  }
  return false;
}
