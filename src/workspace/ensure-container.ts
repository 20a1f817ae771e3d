import type { Writable } from 'node:stream';
import { RuntimeError } from '../common/errors.js';
import type { DevContainerConfig } from '../config/types.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { buildImage } from './build-image.js';
import { composeUp, findServiceContainer, readComposeVersion, type ComposeWorkspace } from './compose.js';
import { composeOverride } from './compose-project.js';
import { createContainer, ensureRunning, startContainer } from './create-container.js';
import { findWorkspaceContainers } from './find-container.js';
import { workspaceLabels } from './labels.js';
import { writeComposeOverrideFile } from './workspace-state.js';

/** What bringing a workspace's container up needs. */
export interface EnsureContainerDeps {
  docker: Docker;
  stateDir: string;
  /** Where build, Compose and lifecycle output streams (stderr). */
  output: Writable;
  progress: (message: string) => void;
  /** Called for an existing container before it is removed: its forwarder goes first. */
  beforeRemove: (containerId: string) => Promise<void>;
}

/** The workspace's running dev container, and whether this call created it. */
export interface EnsuredContainer {
  container: ContainerInfo;
  created: boolean;
}

/**
 * Finds the workspace's container and starts it if it is stopped, or creates it: `docker run` from the
 * image (built first for a Dockerfile), or `compose up` for Compose. With `removeExisting`, an existing
 * container is removed (after `beforeRemove`) and a new one created.
 */
export async function ensureWorkspaceContainer(
  config: DevContainerConfig,
  compose: ComposeWorkspace | null,
  options: { removeExisting: boolean },
  deps: EnsureContainerDeps,
): Promise<EnsuredContainer> {
  const { docker, progress } = deps;
  let existing = await findWorkspaceContainers(docker, config, compose?.project ?? null);
  if (options.removeExisting && existing.length > 0) {
    for (const container of existing) {
      await deps.beforeRemove(container.id);
      progress(`Removing the existing container ${container.name}…`);
      await docker.remove(container.id);
    }
    existing = [];
  }
  const current = existing[0];
  if (compose) return ensureComposeContainer(config, compose, current ?? null, deps);
  if (current?.running) return { container: current, created: false };
  if (current) return { container: await startContainer(docker, current, progress), created: false };

  const source = config.source;
  let image: string;
  if (source.kind === 'dockerfile') {
    progress(`Building ${source.dockerfile}…`);
    image = await buildImage(docker.runner, docker.dockerPath, config, source, deps.output);
  } else if (source.kind === 'image') {
    image = source.image;
  } else {
    throw new RuntimeError('a Compose workspace needs its Compose project prepared first');
  }
  return { container: await createContainer(docker, config, image, progress), created: true };
}

async function ensureComposeContainer(
  config: DevContainerConfig,
  compose: ComposeWorkspace,
  current: ContainerInfo | null,
  deps: EnsureContainerDeps,
): Promise<EnsuredContainer> {
  if (current?.running) return { container: current, created: false };
  const override = composeOverride({
    service: compose.source.service,
    labels: workspaceLabels(config),
    overrideCommand: config.overrideCommand,
    containerEnv: config.containerEnv,
    containerUser: config.containerUser,
    mounts: config.mounts,
    version: await readComposeVersion(compose.source),
  });
  const overrideFile = await writeComposeOverrideFile(deps.stateDir, config, override);
  deps.progress(
    current
      ? `Starting Compose project ${compose.project}…`
      : `Creating Compose project ${compose.project} (override file: ${overrideFile})…`,
  );
  await composeUp(deps.docker.runner, compose, overrideFile, { noRecreate: current !== null }, deps.output);
  const container = await findServiceContainer(deps.docker, compose.project, compose.source.service);
  if (!container) {
    throw new RuntimeError(`Compose started no container for service ${compose.source.service}`, {
      description: `'docker ps -a --filter label=com.docker.compose.project=${compose.project}' lists the project's containers.`,
    });
  }
  return { container: await ensureRunning(deps.docker, container.id), created: current === null };
}
