import { setTimeout as sleep } from 'node:timers/promises';
import { descendantCount } from './proc.js';

const QUIET_TIMEOUT_MS = 20_000;
const QUIET_STABLE_MS = 2_000;
const QUIET_POLL_MS = 200;

/** Descendant counts of the relaying processes at rest (after setup), to come back to between runs. */
export async function restingChildren(pids: readonly number[]): Promise<Map<number, number>> {
  return new Map(await Promise.all(pids.map(async (pid) => [pid, await descendantCount(pid)] as const)));
}

/**
 * Waits until the relays of the last run are gone: every process back to its resting number of
 * descendants, or (a relay that keeps helpers) unchanged for QUIET_STABLE_MS; at most QUIET_TIMEOUT_MS.
 */
export async function waitQuiet(resting: ReadonlyMap<number, number>): Promise<void> {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  let last = '';
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    const counts = await Promise.all([...resting.keys()].map(descendantCount));
    if ([...resting.values()].every((rest, i) => (counts[i] ?? 0) <= rest)) return;
    const key = counts.join(',');
    if (key !== last) {
      last = key;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= QUIET_STABLE_MS) {
      return;
    }
    await sleep(QUIET_POLL_MS);
  }
}
