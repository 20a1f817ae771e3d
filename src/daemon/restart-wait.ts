import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerInfo } from '../runtime/docker.js';
import { retryDelayMs } from './backoff.js';

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
 * How long the engine may give no answer at all about a container whose init process the kernel
 * showed gone, before the container is taken as stopped: a local engine that went away takes its
 * containers with it (without live-restore), and nothing can start them again until it is back.
 */
export const UNANSWERED_WAIT_MS = 6_000;

export interface RestartWaitOptions {
  /** Told of each inspect that failed, with the number of failures in a row. */
  onFailure?: (error: unknown, failures: number) => void;
  /**
   * Set when the container's init process is known gone (the host's /proc showed it): how long the
   * engine may give no answer at all before the container is taken as stopped. Unset, only the
   * engine's answers decide, however long it cannot be asked.
   */
  unansweredLimitMs?: number;
}

/**
 * After the container's init process went away: resolves to the container once it runs again (a
 * restart), or null once the engine says it has stayed down past the grace (a stop) or is gone. An
 * inspect that fails (the engine unreachable, this process out of file descriptors) is no answer: it
 * is reported and tried again with back-off, and the grace counts from the engine's first answer.
 * `signal` ends the wait early (the forwarder is being stopped), also with null.
 */
export async function waitForRestart(
  inspect: () => Promise<ContainerInfo | null>,
  previousPid: number,
  signal: AbortSignal,
  options: RestartWaitOptions = {},
): Promise<ContainerInfo | null> {
  const started = Date.now();
  let firstAnswer: number | null = null;
  let failures = 0;
  while (!signal.aborted) {
    let info: ContainerInfo | null;
    try {
      info = await inspect();
    } catch (error) {
      failures += 1;
      options.onFailure?.(error, failures);
      const limit = options.unansweredLimitMs;
      if (firstAnswer === null && limit !== undefined && Date.now() - started >= limit) return null;
      await sleep(retryDelayMs(failures), undefined, { signal }).catch(() => undefined);
      continue;
    }
    failures = 0;
    firstAnswer ??= Date.now();
    const verdict = restartVerdict(info, Date.now() - firstAnswer, previousPid);
    if (verdict === 'follow') return info;
    if (verdict === 'stopped') return null;
    await sleep(RESTART_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  return null;
}
