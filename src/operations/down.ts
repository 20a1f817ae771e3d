import { statePaths } from '../common/state-dir.js';
import { reapForwarder } from '../daemon/reap-forwarder.js';
import { Docker } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import type { CommonOptions } from './forwarder-options.js';

export interface DownOptions extends CommonOptions {
  containerIds: string[];
  remove: boolean;
}

export interface DownResult {
  outcome: 'success';
  containers: Array<{ containerId: string; forwarderPid: number | null; action: 'stopped' | 'removed' | 'absent' }>;
}

/** Reaps each container's forwarder (its ports are free on return), then stops or removes the container. */
export async function down(
  options: DownOptions,
  deps: { runner: ProcessRunner; progress: (message: string) => void },
): Promise<DownResult> {
  const docker = new Docker(deps.runner, options.dockerPath);
  const paths = statePaths(options.stateDir);
  const result: DownResult = { outcome: 'success', containers: [] };
  for (const containerId of options.containerIds) {
    const reaped = await reapForwarder(paths, containerId);
    if (reaped.pid !== null) {
      deps.progress(`Stopped forwarder ${reaped.pid}${reaped.killed ? ' (killed after the grace period)' : ''}.`);
    }
    const container = await docker.inspect(containerId);
    let action: DownResult['containers'][number]['action'] = 'absent';
    if (container && options.remove) {
      deps.progress(`Removing container ${container.name}…`);
      await docker.remove(container.id);
      action = 'removed';
    } else if (container) {
      if (container.running) {
        deps.progress(`Stopping container ${container.name}…`);
        await docker.stop(container.id);
      }
      action = 'stopped';
    }
    result.containers.push({ containerId, forwarderPid: reaped.pid, action });
  }
  return result;
}
