import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerInfo } from '../runtime/docker.js';

/**
 * How long a container seen down may take to come back before the forwarder takes it as stopped:
 * `docker restart` stops it, then starts it again a moment later (measured here: a few hundred ms).
 */
export const RESTART_GRACE_MS = 3_000;
/** How long a container the engine says is restarting (a restart policy's back-off) is waited for. */
export const RESTARTING_WAIT_MS = 30_000;
/** How often the container is inspected meanwhile. */
export const RESTART_POLL_MS = 200;

/** What to do about a container seen down, `elapsedMs` after it was first seen so. */
export type RestartVerdict = 'follow' | 'wait' | 'stopped';

/**
 * Pure. `previousPid`: the init process that went away. Null info means the container is gone
 * (removed), which no wait brings back, nor does one being removed. A container still shown running
 * under the old init process is the engine not having caught up yet: waited for, then followed all
 * the same (a running container's forwards are never dropped).
 */
export function restartVerdict(
  info: ContainerInfo | null,
  elapsedMs: number,
  previousPid: number,
): RestartVerdict {
  if (info === null || info.status === 'removing' || info.status === 'dead') return 'stopped';
  if (info.running) return info.pid !== previousPid || elapsedMs >= RESTART_GRACE_MS ? 'follow' : 'wait';
  const limit = info.status === 'restarting' ? RESTARTING_WAIT_MS : RESTART_GRACE_MS;
  return elapsedMs < limit ? 'wait' : 'stopped';
}

/**
 * After the container's init process went away: resolves to the container once it runs again (a
 * restart), or null once it has stayed down past the grace (a stop) or is gone. `signal` ends the
 * wait early (the forwarder is being stopped), also with null.
 */
export async function waitForRestart(
  inspect: () => Promise<ContainerInfo | null>,
  previousPid: number,
  signal: AbortSignal,
): Promise<ContainerInfo | null> {
  const started = Date.now();
  for (;;) {
    const info = await inspect().catch(() => null);
    const verdict = restartVerdict(info, Date.now() - started, previousPid);
    if (verdict === 'follow') return info;
    if (verdict === 'stopped' || signal.aborted) return null;
    await sleep(RESTART_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}
