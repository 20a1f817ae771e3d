import { PortpilotError, UsageError } from '../common/errors.js';
import { ensureStateDir, statePaths } from '../common/state-dir.js';
import type { DaemonSpec, DeclaredForward } from '../daemon/daemon-spec.js';
import { ensureForwarder } from '../daemon/spawn-forwarder.js';
import { Docker, type ContainerInfo } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import type { CommonOptions, ForwardingOptions } from './forwarder-options.js';
import { parseForwardPortSpec } from '../config/port-specs.js';

export interface UpOptions extends CommonOptions, ForwardingOptions {
  containerId: string | null;
  workspaceFolder: string | null;
  config: string | null;
  removeExistingContainer: boolean;
}

/** The success line `up` prints, in the devcontainer CLI's shape. */
export interface UpResult {
  outcome: 'success';
  containerId: string;
  remoteWorkspaceFolder: string;
  forwarder?: { pid: number; logFile: string };
}

export interface UpDeps {
  runner: ProcessRunner;
  progress: (message: string) => void;
}

/** Brings up (or attaches to) the container and, when asked, its forwarder. */
export async function up(options: UpOptions, deps: UpDeps): Promise<UpResult> {
  const docker = new Docker(deps.runner, options.dockerPath);
  if (options.containerId === null) {
    throw new UsageError('up needs --container-id ID to attach to a running container', {
      description: 'Name an existing container with --container-id.',
    });
  }
  const container = await attach(docker, options.containerId);
  const declared: DeclaredForward[] = options.forwardPorts.map((raw) => {
    const spec = parseForwardPortSpec(raw);
    if (spec.service !== null) {
      throw new UsageError(`--forward-port ${raw}: a SERVICE:PORT needs a Compose workspace`, {
        description: 'Use a plain port number when attaching with --container-id.',
      });
    }
    return { service: null, port: spec.port, containerId: container.id };
  });
  const result: UpResult = {
    outcome: 'success',
    containerId: container.id,
    remoteWorkspaceFolder: container.workingDir || '/',
  };
  if (!options.autoForward) return result;
  result.forwarder = await startForwarding(options, container, declared, null, deps);
  return result;
}

/** Starts (or reuses) the container's forwarder. */
export async function startForwarding(
  options: CommonOptions & ForwardingOptions,
  container: ContainerInfo,
  declared: DeclaredForward[],
  attributes: DaemonSpec['attributes'],
  deps: UpDeps,
): Promise<{ pid: number; logFile: string }> {
  const paths = statePaths(options.stateDir);
  await ensureStateDir(paths.root);
  deps.progress(`Starting the port forwarder for ${container.name}…`);
  const handle = await ensureForwarder(paths, {
    containerId: container.id,
    stateDir: paths.root,
    dockerPath: options.dockerPath,
    declared,
    attributes,
    relayPath: options.relayPath,
    hostAddress: options.hostAddress,
  });
  deps.progress(
    handle.reused
      ? `Reusing the running forwarder (pid ${handle.pid}); log: ${handle.logFile}`
      : `Forwarder running (pid ${handle.pid}); log: ${handle.logFile}`,
  );
  return { pid: handle.pid, logFile: handle.logFile };
}

/** Finds a running container by id or name. */
export async function attach(docker: Docker, ref: string): Promise<ContainerInfo> {
  const container = await docker.inspect(ref);
  if (!container) {
    throw new PortpilotError('CONTAINER_NOT_FOUND', `no container '${ref}'`, {
      description: `'${docker.dockerPath} ps -a' lists the containers there are.`,
    });
  }
  if (!container.running) {
    throw new PortpilotError('CONTAINER_NOT_RUNNING', `container ${container.name} is ${container.status}, not running`, {
      description: `Start it first: ${docker.dockerPath} start ${container.name}`,
    });
  }
  return container;
}
