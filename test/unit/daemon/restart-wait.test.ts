import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  RESTART_GRACE_MS,
  RESTARTING_WAIT_MS,
  restartVerdict,
  waitForRestart,
} from '../../../src/daemon/restart-wait.js';
import type { ContainerInfo } from '../../../src/runtime/docker.js';

const OLD_PID = 4100;

function info(status: string, pid: number): ContainerInfo {
  return {
    id: 'c0ffee',
    name: 'web',
    running: status === 'running',
    status,
    pid,
    startedAt: '',
    ipAddresses: ['172.17.0.2'],
    labels: {},
    image: 'debian',
    imageId: '',
    workingDir: '',
    composeService: null,
    composeProject: null,
    networkMode: 'bridge',
    publishedPorts: [],
  };
}

describe('restartVerdict', () => {
  it('follows a container running under a new init process at once', () => {
    expect(restartVerdict(info('running', 5200), 0, OLD_PID)).toBe('follow');
  });

  it('waits for a container seen down, for the grace, then takes it as stopped', () => {
    expect(restartVerdict(info('exited', 0), 0, OLD_PID)).toBe('wait');
    expect(restartVerdict(info('exited', 0), RESTART_GRACE_MS - 1, OLD_PID)).toBe('wait');
    expect(restartVerdict(info('exited', 0), RESTART_GRACE_MS, OLD_PID)).toBe('stopped');
  });

  it("waits longer for one the engine says is restarting (a restart policy's back-off)", () => {
    expect(restartVerdict(info('restarting', 0), RESTART_GRACE_MS, OLD_PID)).toBe('wait');
    expect(restartVerdict(info('restarting', 0), RESTARTING_WAIT_MS, OLD_PID)).toBe('stopped');
  });

  it('takes a removed container, or one being removed, as stopped at once', () => {
    expect(restartVerdict(null, 0, OLD_PID)).toBe('stopped');
    expect(restartVerdict(info('removing', 0), 0, OLD_PID)).toBe('stopped');
    expect(restartVerdict(info('dead', 0), 0, OLD_PID)).toBe('stopped');
  });

  it('waits while the engine still shows the old init process, and then follows all the same', () => {
    expect(restartVerdict(info('running', OLD_PID), 0, OLD_PID)).toBe('wait');
    expect(restartVerdict(info('running', OLD_PID), RESTART_GRACE_MS, OLD_PID)).toBe('follow');
  });
});

describe('waitForRestart', () => {
  it('never gives up on an engine that cannot be asked, unless the init process was seen gone', async () => {
    const unreachable = () => Promise.reject(new Error('error during connect: connection refused'));
    const stopping = new AbortController();
    const waiting = waitForRestart(unreachable, OLD_PID, stopping.signal);
    const outcome = await Promise.race([waiting.then(() => 'returned'), sleep(RESTART_GRACE_MS + 1_000)]);
    expect(outcome).toBeUndefined();
    stopping.abort();
    expect(await waiting).toBeNull();
    // The kernel showed the process gone and the engine never answers: it went away with it.
    const started = Date.now();
    expect(
      await waitForRestart(unreachable, OLD_PID, new AbortController().signal, { unansweredLimitMs: 500 }),
    ).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('resolves to the container once it runs again', async () => {
    const seen = [info('exited', 0), info('created', 0), info('running', 5200)];
    let asked = 0;
    const inspect = () => Promise.resolve(seen[Math.min(asked++, seen.length - 1)] ?? null);
    const container = await waitForRestart(inspect, OLD_PID, new AbortController().signal);
    expect(container?.pid).toBe(5200);
    expect(asked).toBe(3);
  });

  it('resolves to null for a container the engine says is gone', async () => {
    const signal = new AbortController().signal;
    expect(await waitForRestart(() => Promise.resolve(null), OLD_PID, signal)).toBeNull();
  });

  it('takes a failed inspect as no answer: retries it, and follows the container once the engine answers', async () => {
    const failures: number[] = [];
    let asked = 0;
    const inspect = () =>
      ++asked <= 3
        ? Promise.reject(new Error('error during connect: ssh exited with 255'))
        : Promise.resolve(info('running', OLD_PID));
    const container = await waitForRestart(inspect, OLD_PID, new AbortController().signal, {
      onFailure: (_, count) => failures.push(count),
    });
    // Running under the same init process: the read that failed was not about the container.
    expect(container?.pid).toBe(OLD_PID);
    expect(failures).toEqual([1, 2, 3]);
  });

  it("counts the grace from the engine's first answer, not from while it could not be asked", async () => {
    let asked = 0;
    const answers: ContainerInfo[] = [];
    const inspect = () => {
      asked++;
      if (asked <= 2) return Promise.reject(new Error('EMFILE: too many open files'));
      const answer = asked < 5 ? info('exited', 0) : info('running', 5200);
      answers.push(answer);
      return Promise.resolve(answer);
    };
    const container = await waitForRestart(inspect, OLD_PID, new AbortController().signal);
    expect(container?.pid).toBe(5200);
    expect(answers.map((answer) => answer.status)).toEqual(['exited', 'exited', 'running']);
  });

  it('gives up at once when the forwarder is being stopped', async () => {
    const stopping = new AbortController();
    let asked = 0;
    const inspect = () => {
      asked++;
      return Promise.resolve(info('exited', 0));
    };
    const waited = waitForRestart(inspect, OLD_PID, stopping.signal);
    stopping.abort();
    expect(await waited).toBeNull();
    // The grace would have taken some fifteen inspects.
    expect(asked).toBeLessThanOrEqual(2);
  });
});
