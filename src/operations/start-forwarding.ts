import type { ReversePort } from '../config/reverse-ports.js';
import { isIP } from 'node:net';
import { RuntimeError, UsageError } from '../common/errors.js';
import { ensureStateDir, statePaths } from '../common/state-dir.js';
import type { DaemonSpec, DeclaredForward } from '../control/daemon-spec.js';
import type { ForwarderRequest } from '../control/forwarder-request.js';
import { ensureForwarder } from '../control/spawn-forwarder.js';
import { isLoopbackAddress } from '../forwarding/host/host-listener.js';
import { listPorts } from '../forwarding/host/registry.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import type { CommonOptions, ForwardingOptions } from './forwarder-options.js';
import { warningsTo, type Log } from '../common/log.js';

/**
 * Refuses a --host-address that is not an IP address, and warns about one that is not loopback:
 * its forwards are open to every machine that can reach that address, not only to this host.
 */
export function checkHostAddress(address: string, progress: Log): void {
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
  deps: { progress: Log },
  follow: Record<string, string> | null = null,
  reversePorts: ReversePort[] = [],
): Promise<{ pid: number; logFile: string }> {
  const paths = statePaths(options.stateDir);
  await ensureStateDir(paths.root);
  // A registry the forwarder could not use (a planted symlink, say) fails up now, not port by port.
  await listPorts(paths, { onWarning: warningsTo(deps.progress) });
  deps.progress(`Starting the port forwarder for ${container.name}…`);
  const spec: DaemonSpec = {
    containerId: container.id,
    stateDir: paths.root,
    dockerPath: options.dockerPath,
    declared,
    attributes,
    relayPath: options.relayPath,
    hostAddress: options.hostAddress,
    ...(follow ? { follow } : {}),
    ...(reversePorts.length > 0 ? { reversePorts } : {}),
  };
  const request: ForwarderRequest = { ...mode, spec };
  const handle = await ensureForwarder(paths, request, warningsTo(deps.progress));
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
    throw new RuntimeError(`no container '${ref}'`, {
      code: 'CONTAINER_NOT_FOUND',
      description: `'${docker.dockerPath} ps -a' lists the containers there are.`,
    });
  }
  if (!container.running) {
    throw new RuntimeError(`container ${container.name} is ${container.status}, not running`, {
      code: 'CONTAINER_NOT_RUNNING',
      description: `Start it first: ${docker.dockerPath} start ${container.name}`,
    });
  }
  return container;
}
