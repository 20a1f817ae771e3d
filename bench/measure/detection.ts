import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import {
  DETECTION_FIRST_PORT,
  DETECTION_POLL_MS,
  DETECTION_SERVER_LIFETIME_S,
  DETECTION_TIMEOUT_MS,
  DETECTION_TRIALS,
} from '../config.js';
import { progress } from '../log.js';
import { SERVER_IN_CONTAINER, startContainer, type BenchContainer } from '../setup/containers.js';
import { hostPortFree } from '../setup/host-ports.js';
import type { Portpilot } from '../setup/portpilot.js';
import type { Endpoint } from '../setup/topology.js';
import { nsToMs, percentile } from '../stats.js';
import { connectedAt } from './client.js';
import { containerCgroup, type ContainerCgroup } from './proc.js';

/** From a server's listen() in the container to its host port accepting, for one bind address. */
export interface DetectionResult {
  bind: string;
  /** From the timestamp the server takes right after listen() (CLOCK_MONOTONIC, shared with the host). */
  p50Ms: number;
  p95Ms: number;
  /** The same, from just before `docker exec -d` started the server (includes the exec's own cost). */
  fromExecP50Ms: number;
  fromExecP95Ms: number;
  trials: number;
  failures: number;
}

/** Detection results over all trials, and over the wildcard- and the loopback-bound ones. */
export interface Detection {
  all: DetectionResult;
  wildcard: DetectionResult;
  loopback: DetectionResult;
}

/** One trial: its bind address and, unless it failed, its two latencies. */
export type Trial = { bind: string; listenMs: number; execMs: number } | { bind: string; failed: true };

const TIMESTAMP_READ_TIMEOUT_MS = 2_000;

// Polls connect every DETECTION_POLL_MS until the host port accepts; resolves to when, or null.
async function whenAccepting(endpoint: Endpoint, timeoutMs: number): Promise<bigint | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const attemptStarted = Date.now();
    const at = await connectedAt(endpoint);
    if (at !== null) return at;
    await sleep(Math.max(0, DETECTION_POLL_MS - (Date.now() - attemptStarted)));
  }
  return null;
}

async function readListenTimestamp(
  container: Pick<BenchContainer, 'initPid'>,
  file: string,
): Promise<bigint> {
  const deadline = Date.now() + TIMESTAMP_READ_TIMEOUT_MS;
  for (;;) {
    // The container's files, seen from the host through its init process (no exec needed).
    const text = await readFile(`/proc/${container.initPid}/root${file}`, 'utf8').catch(() => '');
    if (/^\d+$/.test(text.trim())) return BigInt(text.trim());
    if (Date.now() > deadline) throw new Error(`the detection server wrote no timestamp to ${file}`);
    await sleep(10);
  }
}

// Ends the trial's server from the host by its host pid, without the cost of another exec.
async function stopDetectionServer(cgroup: Pick<ContainerCgroup, 'pids'>, port: number): Promise<void> {
  for (const pid of await cgroup.pids()) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (argv.includes('detect') && argv.includes(String(port))) process.kill(pid, 'SIGKILL');
  }
}

/** How long a trial's server lives and how long the host waits for its port (the remote section's are longer). */
export interface TrialTimes {
  lifetimeS: number;
  timeoutMs: number;
}

const LOCAL_TRIAL: TrialTimes = { lifetimeS: DETECTION_SERVER_LIFETIME_S, timeoutMs: DETECTION_TIMEOUT_MS };

/**
 * One trial: a server started with `ENGINE exec -d` (`engine`: the docker CLI, or a user's podman as
 * an argv) on a new port, timed from its listen() to its host port accepting; ended by its host pid.
 */
export async function runTrial(
  container: Pick<BenchContainer, 'id' | 'initPid'>,
  cgroup: Pick<ContainerCgroup, 'pids'>,
  bind: string,
  port: number,
  times: TrialTimes = LOCAL_TRIAL,
  engine: readonly string[] = ['docker'],
): Promise<Trial> {
  const file = `/tmp/bench-listen-${port}.ns`;
  const accepting = whenAccepting({ host: '127.0.0.1', port }, times.timeoutMs);
  const execStarted = process.hrtime.bigint();
  const [command = 'docker', ...prefix] = engine;
  await execa(
    command,
    [
      ...prefix,
      'exec',
      '--detach',
      container.id,
      'python3',
      SERVER_IN_CONTAINER,
      'detect',
      bind,
      String(port),
      file,
      String(times.lifetimeS),
    ],
    { cwd: '/' },
  );
  const acceptedAt = await accepting;
  try {
    if (acceptedAt === null) {
      progress(`detection: [${bind}]:${port} was not accepted within ${times.timeoutMs} ms`);
      return { bind, failed: true };
    }
    const listenedAt = await readListenTimestamp(container, file);
    if (acceptedAt < listenedAt) throw new Error(`host port ${port} accepted before its server listened`);
    return { bind, listenMs: nsToMs(acceptedAt - listenedAt), execMs: nsToMs(acceptedAt - execStarted) };
  } finally {
    await stopDetectionServer(cgroup, port);
  }
}

export function summarise(trials: readonly Trial[], bind: string): DetectionResult {
  const attempted = trials.filter((trial) => bind === 'any' || trial.bind === bind);
  const done = attempted.flatMap((trial) => ('failed' in trial ? [] : [trial]));
  const listen = done.map((trial) => trial.listenMs);
  const exec = done.map((trial) => trial.execMs);
  return {
    bind,
    p50Ms: percentile(listen, 0.5),
    p95Ms: percentile(listen, 0.95),
    fromExecP50Ms: percentile(exec, 0.5),
    fromExecP95Ms: percentile(exec, 0.95),
    trials: done.length,
    failures: attempted.length - done.length,
  };
}

/**
 * Starts DETECTION_TRIALS servers (bound to 0.0.0.0 and 127.0.0.1 in turn, each on a new port) in a container of its own behind portpilot's auto forwarder, and times each from listen() to
 * its host port accepting; the host tries to connect every DETECTION_POLL_MS.
 */
export async function measureDetection(image: string, portpilot: Portpilot): Promise<Detection> {
  const container = await startContainer(image, 'detection');
  try {
    await portpilot.up(container.id, 'auto');
    const cgroup = await containerCgroup(container.initPid);
    const trials: Trial[] = [];
    let port = DETECTION_FIRST_PORT;
    for (let i = 0; i < DETECTION_TRIALS; i++) {
      while (!(await hostPortFree(port))) port++;
      trials.push(await runTrial(container, cgroup, i % 2 === 0 ? '0.0.0.0' : '127.0.0.1', port++));
    }
    const result = {
      all: summarise(trials, 'any'),
      wildcard: summarise(trials, '0.0.0.0'),
      loopback: summarise(trials, '127.0.0.1'),
    };
    if (result.wildcard.trials === 0 || result.loopback.trials === 0) {
      throw new Error('no detection trial succeeded for one of the bind addresses');
    }
    return result;
  } finally {
    await portpilot.down(container.id);
  }
}
