import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { treeCpuSeconds } from '../measure/proc.js';

/** What an idle remote forwarder costs over the window. */
export interface RemoteIdle {
  windowS: number;
  /** CPU seconds per minute of the daemon and its descendants (reaped ones included). */
  cpuSPerMin: number;
  /** Processes started in its pid namespace per minute: a `docker exec` (and its ssh) per scan shows here. */
  spawnsPerMin: number;
}

/** The pid the next process of the namespace gets, minus one: its pids are handed out in order. */
async function lastPidIn(namespaceInit: number): Promise<number> {
  const probe = await execa('nsenter', [
    '--target',
    String(namespaceInit),
    '--pid',
    '--',
    'sh',
    '-c',
    'echo $$',
  ]);
  return Number(probe.stdout.trim());
}

/**
 * Reads every forwarder's CPU and its namespace's pid counter at once, waits `windowMs` with no
 * traffic, and reads them again. A pid namespace hands out pids one after another, so the probe's
 * pid at the end less the one at the start, less the probe itself, is how many processes the
 * forwarder started meanwhile, however briefly they lived.
 */
export async function measureRemoteIdle(
  forwarders: readonly { hostPid: number; namespaceInit: number }[],
  windowMs: number,
): Promise<RemoteIdle[]> {
  const read = () =>
    Promise.all(
      forwarders.map(async ({ hostPid, namespaceInit }) => ({
        cpu: await treeCpuSeconds(hostPid),
        pid: await lastPidIn(namespaceInit),
      })),
    );
  const before = await read();
  const started = Date.now();
  await sleep(windowMs);
  const after = await read();
  const minutes = (Date.now() - started) / 60_000;
  return forwarders.map((_, i) => {
    const [b, a] = [before[i], after[i]];
    if (!a || !b) throw new Error('an idle reading is missing');
    return {
      windowS: minutes * 60,
      cpuSPerMin: (a.cpu - b.cpu) / minutes,
      spawnsPerMin: Math.max(0, a.pid - b.pid - 1) / minutes,
    };
  });
}
