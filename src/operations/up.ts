import { isIP } from 'node:net';
import type { Writable } from 'node:stream';
import { PortpilotError, UsageError } from '../common/errors.js';
import { ensureStateDir, statePaths } from '../common/state-dir.js';
import { parseForwardPortSpec } from '../config/port-specs.js';
import { readDevContainerConfig } from '../config/read-config.js';
import type { DaemonSpec, DeclaredForward } from '../daemon/daemon-spec.js';
import type { ForwarderRequest } from '../daemon/forwarder-request.js';
import { reapForwarder } from '../daemon/reap-forwarder.js';
import { ensureForwarder } from '../daemon/spawn-forwarder.js';
import { serializeAttributes } from '../forwarding/attributes-lookup.js';
import { isLoopbackAddress } from '../forwarding/host-listener.js';
import { listPorts } from '../forwarding/registry.js';
import { Docker, type ContainerInfo } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import { prepareCompose, readComposeProjectName } from '../workspace/compose.js';
import { ensureWorkspaceContainer } from '../workspace/ensure-container.js';
import { readLabelledConfig } from '../workspace/labelled-config.js';
import { runLifecycleCommands } from '../workspace/lifecycle-runner.js';
import { withWorkspaceLock } from '../workspace/workspace-state.js';
import { checkDeclaredServices, declaredPorts, resolveForwards } from './declared-forwards.js';
import type { CommonOptions, ForwardingOptions } from './forwarder-options.js';

/** What `up` is asked to do: the flags, typed. */
export interface UpOptions extends CommonOptions, ForwardingOptions {
  containerId: string | null;
  /** The workspace folder; null means the current directory. */
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

/** What `up` runs things with and reports to. */
export interface UpDeps {
  runner: ProcessRunner;
  progress: (message: string) => void;
  /** Where the output of builds, Compose and lifecycle commands streams: stderr, never stdout. */
  output: Writable;
  /** What `${localEnv:…}` and COMPOSE_PROJECT_NAME read. */
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * Brings up the workspace's dev container (or attaches to `--container-id`) and, when asked, its
 * forwarder. A malformed config or Compose file fails before any container or forwarder is touched.
 */
export async function up(options: UpOptions, deps: UpDeps): Promise<UpResult> {
  if (options.autoForward) checkHostAddress(options.hostAddress, deps.progress);
  const docker = new Docker(deps.runner, options.dockerPath);
  if (options.containerId !== null) return upAttached(options, options.containerId, docker, deps);

  const config = await readDevContainerConfig(
    options.workspaceFolder ?? process.cwd(),
    options.config ?? undefined,
    deps.env,
  );
  const declared = declaredPorts(config, options.forwardPorts);
  const compose =
    config.source.kind === 'compose'
      ? await prepareCompose(deps.runner, options.dockerPath, config, config.source, deps.env)
      : null;
  checkDeclaredServices(declared, compose);

  const container = await withWorkspaceLock(options.stateDir, config, async () => {
    const ensured = await ensureWorkspaceContainer(
      config,
      compose,
      { removeExisting: options.removeExistingContainer },
      {
        docker,
        stateDir: options.stateDir,
        output: deps.output,
        progress: deps.progress,
        beforeRemove: async (containerId) => {
          const reaped = await reapForwarder(statePaths(options.stateDir), containerId);
          if (reaped.pid !== null) deps.progress(`Stopped the old forwarder (pid ${reaped.pid}).`);
        },
      },
    );
    const { name, id } = ensured.container;
    deps.progress(`${ensured.created ? 'Created' : 'Using'} container ${name} (${id.slice(0, 12)}).`);
    const target = { docker, containerId: id, output: deps.output, progress: deps.progress };
    await runLifecycleCommands(config, target);
    return ensured.container;
  });

  const result: UpResult = {
    outcome: 'success',
    containerId: container.id,
    remoteWorkspaceFolder: config.workspaceFolder,
  };
  if (!options.autoForward) return result;
  const target = compose ? { project: compose.project, service: compose.source.service } : null;
  const forwards = await resolveForwards(docker, declared, container, target);
  const attributes = serializeAttributes(config);
  const mode = { kind: 'workspace' as const };
  result.forwarder = await startForwarding(options, container, mode, forwards, attributes, deps);
  return result;
}

async function upAttached(options: UpOptions, ref: string, docker: Docker, deps: UpDeps): Promise<UpResult> {
  const declared = options.forwardPorts.map((raw) => {
    const spec = parseForwardPortSpec(raw);
    if (spec.service !== null) {
      throw new UsageError(`--forward-port ${raw}: a SERVICE:PORT needs a Compose workspace`, {
        description: 'Use a plain port number when attaching with --container-id.',
      });
    }
    return spec;
  });
  const container = await attach(docker, ref);
  const result: UpResult = {
    outcome: 'success',
    containerId: container.id,
    remoteWorkspaceFolder: container.workingDir || '/',
  };
  if (!options.autoForward) return result;
  // A new forwarder for a container made for a workspace forwards as that workspace's up does (its
  // forwardPorts and portsAttributes: a port it says to ignore stays unforwarded), when its labels
  // may be followed; the flags' ports come on top. A running one only gets the flags' ports added.
  const config = await readLabelledConfig(docker, container, deps.env, deps.progress);
  let forwards: DeclaredForward[] = [];
  if (config) {
    const target =
      config.source.kind === 'compose'
        ? {
            project: await readComposeProjectName(config, config.source, deps.env),
            service: config.source.service,
          }
        : null;
    forwards = await resolveForwards(docker, declaredPorts(config, []), container, target);
  }
  const added = declared.map(({ port }) => ({ service: null, port, containerId: container.id }));
  for (const port of added) {
    if (!forwards.some((f) => f.service === null && f.port === port.port)) forwards.push(port);
  }
  const attributes = config ? serializeAttributes(config) : null;
  const mode = { kind: 'attach' as const, added };
  result.forwarder = await startForwarding(options, container, mode, forwards, attributes, deps);
  return result;
}

/**
 * Refuses a --host-address that is not an IP address, and warns about one that is not loopback:
 * its forwards are open to every machine that can reach that address, not only to this host.
 */
function checkHostAddress(address: string, progress: (message: string) => void): void {
  if (isIP(address) === 0) {
    throw new UsageError(`--host-address ${address} is not an IP address`, {
      description: 'Leave it out: forwards listen on 127.0.0.1 (and ::1), reachable from this host only.',
    });
  }
  if (!isLoopbackAddress(address)) {
    progress(
      `warning: --host-address ${address} is not a loopback address: every forwarded port will be ` +
        `reachable by anyone who can reach ${address}, other machines included. Leave the flag out ` +
        'to listen on 127.0.0.1 and ::1 only.',
    );
  }
}

/**
 * Starts (or reuses) the container's forwarder. A running one is replaced only when the request
 * changes what it runs with (see planForwarder), and `up` says what changed.
 */
export async function startForwarding(
  options: CommonOptions & ForwardingOptions,
  container: ContainerInfo,
  mode: { kind: 'workspace' } | { kind: 'attach'; added: DeclaredForward[] },
  declared: DeclaredForward[],
  attributes: DaemonSpec['attributes'],
  deps: Pick<UpDeps, 'progress'>,
): Promise<{ pid: number; logFile: string }> {
  const paths = statePaths(options.stateDir);
  await ensureStateDir(paths.root);
  // A registry the forwarder could not use (a planted symlink, say) fails up now, not port by port.
  await listPorts(paths, { onWarning: (message) => deps.progress(`warning: ${message}`) });
  deps.progress(`Starting the port forwarder for ${container.name}…`);
  const spec: DaemonSpec = {
    containerId: container.id,
    stateDir: paths.root,
    dockerPath: options.dockerPath,
    declared,
    attributes,
    relayPath: options.relayPath,
    hostAddress: options.hostAddress,
  };
  const request: ForwarderRequest = { ...mode, spec };
  const handle = await ensureForwarder(paths, request);
  if (handle.replaced) {
    deps.progress(
      `Replaced the running forwarder (pid ${handle.replaced.pid}), as this up changes what it runs ` +
        `with: ${handle.replaced.changes.join('; ')}.`,
    );
  }
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
    throw new PortpilotError(
      'CONTAINER_NOT_RUNNING',
      `container ${container.name} is ${container.status}, not running`,
      {
        description: `Start it first: ${docker.dockerPath} start ${container.name}`,
      },
    );
  }
  return container;
}
