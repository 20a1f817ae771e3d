import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcessAlive } from '../common/process-info.js';
import type { StatePaths } from '../common/state-dir.js';
import { releasePorts } from '../forwarding/host/registry.js';
import { findForwarderProcesses } from './find-forwarder.js';
import { forwarderFiles, isMarkerLive, readMarker, removeMarker } from './marker.js';
import { removeLinkSockets } from '../runtime/ssh-link-dials.js';
import type { Log } from '../common/log.js';

/** How long a forwarder gets to exit after SIGTERM before it is killed. */
export const REAP_GRACE_MS = 5_000;
const REAP_POLL_MS = 25;

export interface ReapResult {
  /** The forwarder's pid when one was running, else null. */
  pid: number | null;
  /** True when SIGTERM was not enough. */
  killed: boolean;
}

/**
 * Stops the container's forwarder, if one runs: SIGTERM, a bounded wait, then SIGKILL. Only a process
 * whose pid, start time and command line all match the marker is signalled; with no usable marker
 * (deleted with the state dir, damaged), the forwarder is found by its exact command line, which
 * names this state dir. Registry damage found on the way goes to `warn`. On return the process is gone
 * and its registry entries and SSH link sockets are released.
 */
export async function reapForwarder(paths: StatePaths, containerId: string, warn: Log): Promise<ReapResult> {
  const marker = await readMarker(paths, containerId);
  const targets =
    marker && (await isMarkerLive(marker))
      ? [{ pid: marker.pid, startTime: marker.startTime }]
      : await findForwarderProcesses(paths, containerId);
  const result: ReapResult = { pid: targets[0]?.pid ?? null, killed: false };
  for (const target of targets) {
    if (!(await isSameProcessAlive(target.pid, target.startTime))) continue;
    signal(target.pid, 'SIGTERM');
    if (!(await waitForExit(target.pid, target.startTime, REAP_GRACE_MS))) {
      signal(target.pid, 'SIGKILL');
      result.killed = true;
      await waitForExit(target.pid, target.startTime, REAP_GRACE_MS);
    }
  }
  if (marker) await removeMarker(paths, containerId, marker.pid);
  // Whatever the forwarder did not release itself (it was killed, or died earlier) goes now: its
  // registry entries, and the sockets of its SSH link (a live forwarder's are never touched).
  await releasePorts(paths, (entry) => entry.containerId === containerId, { onWarning: warn });
  const alive = await Promise.all(targets.map((t) => isSameProcessAlive(t.pid, t.startTime)));
  if (!alive.includes(true)) removeLinkSockets(forwarderFiles(paths, containerId).engineSocket);
  return result;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function waitForExit(pid: number, startTime: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isSameProcessAlive(pid, startTime))) return true;
    await sleep(REAP_POLL_MS);
  }
  return !(await isSameProcessAlive(pid, startTime));
}
