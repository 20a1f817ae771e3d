import {
  mergeReversePorts,
  parseReversePorts,
  parseReversePortsSetting,
  type ReversePort,
} from '../config/reverse-ports.js';
import path from 'node:path';
import { statePaths } from '../common/state-dir.js';
import {
  parseForwardSettings,
  NO_FORWARD_SETTINGS,
  type ForwardSettings,
} from '../config/forward-settings.js';
import { reapForwarder } from '../control/reap-forwarder.js';
import { serializeAttributes } from '../forwarding/attributes-lookup.js';
import { runReference, type ReferenceResult } from '../devcontainer/reference-cli.js';
import { Docker, type ContainerInfo } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import { readLabelledWorkspace, type LabelledWorkspaceFiles } from '../workspace/labelled-config.js';
import { workspaceIdLabels } from '../workspace/labels.js';
import { workspaceComposeProject } from '../workspace/workspace-compose.js';
import { withWorkspaceLock } from '../workspace/workspace-state.js';
import { declaredPorts, resolveForwards, type ComposeTarget } from './declared-forwards.js';
import type { CommonOptions, ForwardingOptions } from './forwarder-options.js';
import { workspaceContainerIds } from './scope.js';
import { attach, checkHostAddress, startForwarding } from './start-forwarding.js';
import { UsageError } from '../common/errors.js';
import { warningsTo, type Log } from '../common/log.js';

/** What `up` is asked to do: the flags, typed. */
export interface UpOptions extends CommonOptions, ForwardingOptions {
  containerId: string | null;
  /** The workspace folder; null means the current directory. */
  workspaceFolder: string | null;
  config: string | null;
  removeExistingContainer: boolean;
  /** The flags portpilot does not own, in order: passed to the reference CLI's `up` unchanged. */
  passThrough: string[];
}

/** The success line `up` prints: the reference CLI's result, every field kept, plus `forwarder`. */
export type UpResult = ReferenceResult & {
  outcome: 'success';
  containerId: string;
  forwarder?: { pid: number; logFile: string };
};

/** What `up` runs things with and reports to. */
export interface UpDeps {
  runner: ProcessRunner;
  progress: Log;
  /** What the reference CLI runs with (`${localEnv:…}`, COMPOSE_PROJECT_NAME, …). */
  env: Readonly<Record<string, string | undefined>>;
}

const MERGED_FLAG = '--include-merged-configuration';

/**
 * Brings up the workspace's dev container with the reference CLI's `up` (or attaches to
 * `--container-id`) and, when asked, its forwarder, which forwards the ports of the configuration as
 * the reference merged it (devcontainer.json, features, the image's metadata).
 */
export async function up(options: UpOptions, deps: UpDeps): Promise<UpResult> {
  if (options.autoForward) checkHostAddress(options.hostAddress, deps.progress);
  // A bad --reverse-port fails before the container is made.
  flagReversePorts(options);
  const docker = new Docker(deps.runner, options.dockerPath);
  if (options.containerId !== null) {
    if (options.passThrough.length > 0) {
      throw new UsageError(`up --container-id takes none of ${options.passThrough.join(' ')}`, {
        description: 'Those flags go to the Dev Containers CLI, which up runs only for a --workspace-folder.',
      });
    }
    return upAttached(options, options.containerId, docker, deps);
  }

  const folder = path.resolve(options.workspaceFolder ?? process.cwd());
  const lockKey = { configFile: path.resolve(options.config ?? folder) };
  const userAskedMerged = options.passThrough.includes(MERGED_FLAG);
  const result = await withWorkspaceLock(options.stateDir, lockKey, async () => {
    if (options.removeExistingContainer) {
      const project = await workspaceComposeProject(folder, deps.env);
      for (const id of await workspaceContainerIds(docker, folder, project)) {
        const reaped = await reapForwarder(statePaths(options.stateDir), id, warningsTo(deps.progress));
        if (reaped.pid !== null) deps.progress(`Stopped the old forwarder (pid ${reaped.pid}).`);
      }
    }
    const args = [
      '--workspace-folder',
      folder,
      ...(options.config !== null ? ['--config', path.resolve(options.config)] : []),
      ...(options.removeExistingContainer ? ['--remove-existing-container'] : []),
      ...(options.autoForward && !userAskedMerged ? [MERGED_FLAG] : []),
      ...options.passThrough,
    ];
    return runReference(deps.runner, 'up', args, { dockerPath: options.dockerPath, env: deps.env });
  });
  const merged = result.mergedConfiguration;
  if (!userAskedMerged) delete result.mergedConfiguration;
  const success = result as UpResult;
  if (!options.autoForward) return success;

  const container = await attach(docker, success.containerId);
  const settings = parseForwardSettings(merged, 'the merged configuration of ' + folder);
  const compose = composeTarget(result, merged);
  const forwards = await resolveForwards(
    docker,
    declaredPorts(settings.forwardPorts, options.forwardPorts),
    container,
    compose,
  );
  // The forwarder follows the workspace: a rebuild's new container is found by these labels.
  const follow = workspaceIdLabels(options.passThrough, container.labels);
  const attributes = serializeAttributes(settings);
  const mode = { kind: 'workspace' as const };
  const reverse = mergeReversePorts([
    ...parseReversePortsSetting(merged, 'the merged configuration of ' + folder),
    ...flagReversePorts(options),
  ]);
  success.forwarder = await startForwarding(
    options,
    container,
    mode,
    forwards,
    attributes,
    deps,
    follow,
    reverse,
  );
  return success;
}

/** The --reverse-port values, checked (a bad one is a CONFIG_INVALID error naming it). */
function flagReversePorts(options: UpOptions): ReversePort[] {
  return parseReversePorts(options.reversePorts ?? [], '--reverse-port');
}

/** The Compose project (as the reference named it) and service of the dev container, if any. */
function composeTarget(result: ReferenceResult, merged: unknown): ComposeTarget | null {
  const project = result.composeProjectName;
  const service = (merged as { service?: unknown } | undefined)?.service;
  return typeof project === 'string' && typeof service === 'string' ? { project, service } : null;
}

async function upAttached(options: UpOptions, ref: string, docker: Docker, deps: UpDeps): Promise<UpResult> {
  const container = await attach(docker, ref);
  const result: UpResult = {
    outcome: 'success',
    containerId: container.id,
    remoteWorkspaceFolder: container.workingDir || '/',
  };
  if (!options.autoForward) return result;
  // A new forwarder for a container made for a workspace forwards as that workspace's up does (its
  // forwardPorts, portsAttributes and reverse ports: a port it says to ignore stays unforwarded),
  // when its labels may be followed; the flags' ports come on top. A running one only gets the
  // flags' ports added.
  const workspace = await readLabelledWorkspace(docker, container, deps.progress);
  const { settings, reverse } = workspace
    ? await labelledSettings(container, workspace, options, deps)
    : { settings: NO_FORWARD_SETTINGS, reverse: [] };
  // Made for a workspace: its forwarder follows that workspace through a rebuild, as up's does.
  const follow = workspace ? workspaceIdLabels([], container.labels) : null;
  const compose =
    container.composeProject && container.composeService
      ? { project: container.composeProject, service: container.composeService }
      : null;
  const fromConfig = await resolveForwards(
    docker,
    declaredPorts(settings.forwardPorts, []),
    container,
    compose,
  );
  const fromFlags = await resolveForwards(
    docker,
    declaredPorts([], options.forwardPorts),
    container,
    compose,
  );
  const forwards = [...fromConfig];
  for (const port of fromFlags) {
    if (!forwards.some((f) => f.service === port.service && f.port === port.port)) forwards.push(port);
  }
  const mode = { kind: 'attach' as const, added: fromFlags };
  const attributes = serializeAttributes(settings);
  result.forwarder = await startForwarding(
    options,
    container,
    mode,
    forwards,
    attributes,
    deps,
    follow,
    mergeReversePorts([...reverse, ...flagReversePorts(options)]),
  );
  return result;
}

/**
 * The forward settings of the workspace a container's labels name (found by readLabelledWorkspace:
 * labels can come from an image, and never lead portpilot to another file), merged by the reference
 * CLI with the container's metadata.
 */
async function labelledSettings(
  container: ContainerInfo,
  workspace: LabelledWorkspaceFiles,
  options: UpOptions,
  deps: UpDeps,
): Promise<{ settings: ForwardSettings; reverse: ReversePort[] }> {
  const args = [
    '--container-id',
    container.id,
    '--workspace-folder',
    workspace.workspaceFolder,
    '--config',
    workspace.configFile,
    MERGED_FLAG,
  ];
  const read = await runReference(deps.runner, 'read-configuration', args, {
    dockerPath: options.dockerPath,
    env: deps.env,
  }).catch((error: unknown) => {
    deps.progress(
      `warning: cannot read ${workspace.configFile}; forwarding without its ports: ${String(error)}`,
    );
    return null;
  });
  if (!read) return { settings: NO_FORWARD_SETTINGS, reverse: [] };
  return {
    settings: parseForwardSettings(read.mergedConfiguration, workspace.configFile),
    reverse: parseReversePortsSetting(read.mergedConfiguration, workspace.configFile),
  };
}
