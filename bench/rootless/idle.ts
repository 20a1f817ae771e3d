import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { treeCpuSeconds } from '../measure/proc.js';
import type { RemoteIdle } from '../remote/idle.js';

/** Pure: how many programs an `strace -f -e trace=execve,execveat` log shows started (execs that returned 0). */
export function countExecs(straceLog: string): number {
  return straceLog
    .split('\n')
    .filter((line) => /(execve(at)?\(|<\.\.\. execve(at)? resumed>).*= 0$/.test(line.trim())).length;
}

// Counts the programs each forwarder (and any child it starts meanwhile) runs over the window.
async function execsOver(pids: readonly number[], windowMs: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'portpilot-bench-strace-'));
  try {
    const tracers = pids.map((pid, i) => {
      const log = join(dir, `${i}.log`);
      const child = spawn('strace', ['-f', '-e', 'trace=execve,execveat', '-o', log, '-p', String(pid)], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      return { pid, child, log, exited, stderr: () => stderr };
    });
    await sleep(windowMs);
    for (const tracer of tracers) tracer.child.kill('SIGTERM');
    await Promise.all(tracers.map((tracer) => tracer.exited));
    return await Promise.all(
      tracers.map(async (tracer) => {
        // A tracer that never attached counted nothing: that must not pass for "no process".
        if (!/attached/.test(tracer.stderr()))
          throw new Error(`strace did not attach to forwarder ${tracer.pid}: ${tracer.stderr().trim()}`);
        return countExecs(await readFile(tracer.log, 'utf8'));
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every forwarder idle at once, no traffic: CPU seconds of the daemon and its descendants (reaped
 * ones included) over `cpuWindowMs`, then the programs they start over `spawnWindowMs`, counted by
 * strace following every thread and child (a separate window: tracing costs the tracee a little). The
 * rootless forwarders share the host's pid namespace, so the remote section's pid counter cannot be used.
 */
export async function measureRootlessIdle(
  pids: readonly number[],
  cpuWindowMs: number,
  spawnWindowMs: number,
): Promise<RemoteIdle[]> {
  const read = () => Promise.all(pids.map((pid) => treeCpuSeconds(pid)));
  const before = await read();
  const started = Date.now();
  await sleep(cpuWindowMs);
  const after = await read();
  const minutes = (Date.now() - started) / 60_000;
  const execs = await execsOver(pids, spawnWindowMs);
  return pids.map((_, i) => ({
    windowS: minutes * 60,
    cpuSPerMin: ((after[i] ?? Number.NaN) - (before[i] ?? Number.NaN)) / minutes,
    spawnsPerMin: (execs[i] ?? Number.NaN) / (spawnWindowMs / 60_000),
  }));
}
