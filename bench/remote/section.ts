import { setTimeout as sleep } from 'node:timers/promises';
import { WILDCARD_PORTS } from '../config.js';
import { progress } from '../log.js';
import { setupResult } from '../measure/connection-setup.js';
import { runTrial, summarise, type Trial } from '../measure/detection.js';
import { containerCgroup } from '../measure/proc.js';
import { measureScale } from '../measure/scale.js';
import { measureThroughput, medianRun, type ThroughputResult } from '../measure/throughput.js';
import { hostPortFree } from '../setup/host-ports.js';
import {
  REMOTE_DETECTION_FIRST_PORT,
  REMOTE_DETECTION_TRIAL,
  REMOTE_DETECTION_TRIALS,
  REMOTE_EXEC_BASELINE,
  REMOTE_IDLE_SETTLE_MS,
  REMOTE_IDLE_WINDOW_MS,
  REMOTE_SCALE_MAX_SETUP_MS,
  REMOTE_SETUP_BUDGET_MS,
  REMOTE_SETUP_CONNECTIONS,
  REMOTE_SETUP_MIN_CONNECTIONS,
  REMOTE_SLOW_RUN_S,
  REMOTE_THROUGHPUT_BYTES,
  REMOTE_THROUGHPUT_ROUNDS,
} from './config.js';
import { measureRemoteIdle } from './idle.js';
import { relayPathChoices } from './relay-paths.js';
import { timeSetupWithin } from './setup-budget.js';
import type { RemoteCaseResult, RemoteResults } from './results.js';
import { setUpRemote, type RemoteCase } from './topology.js';

/** Runs a measure; null (and the error recorded) when it could not be made. */
export type Attempt = <T>(label: string, measure: () => Promise<T>) => Promise<T | null>;

async function portsPath(remoteCase: RemoteCase): Promise<string | null> {
  if (!remoteCase.forwarder) return null;
  const rows = await remoteCase.forwarder.portpilot.ports(remoteCase.container.id);
  const ports: number[] = Object.values(WILDCARD_PORTS);
  const seen = new Set(rows.filter((row) => ports.includes(row.containerPort)).map((row) => row.path));
  return [...seen].sort().join('+') || 'not forwarded';
}

async function detection(remoteCase: RemoteCase) {
  const cgroup = await containerCgroup(remoteCase.container.initPid);
  const trials: Trial[] = [];
  let port = REMOTE_DETECTION_FIRST_PORT;
  for (let i = 0; i < REMOTE_DETECTION_TRIALS; i++) {
    while (!(await hostPortFree(port))) port++;
    const bind = i % 2 === 0 ? '0.0.0.0' : '127.0.0.1';
    trials.push(await runTrial(remoteCase.container, cgroup, bind, port++, REMOTE_DETECTION_TRIAL));
  }
  const result = summarise(trials, 'any');
  if (result.trials === 0) throw new Error('no detection trial succeeded');
  return result;
}

/**
 * The remote-engine section: the local engine behind an sshd, a forwarder per `--relay-path` value
 * and the two baselines, measured one case after another in this order: the idle window (all
 * forwarders at once, before any traffic), detection (the auto forwarder), connection setup,
 * throughput (round by round), and the concurrent echoes.
 */
export async function runRemoteSection(
  image: string,
  logsDir: string,
  attempt: Attempt,
): Promise<RemoteResults> {
  const relayPaths = await relayPathChoices();
  const topology = await setUpRemote(image, relayPaths, logsDir);
  const { cases } = topology;
  const results = cases.map((c): RemoteCaseResult => ({
    name: c.name,
    relayPath: c.relayPath,
    portsPath: null,
    setup: null,
    throughput: null,
    scale: null,
    idle: null,
  }));
  const atStart = await Promise.all(cases.map((c) => portsPath(c).catch(() => '?')));

  const forwarded = cases.flatMap((c, i) => (c.forwarder ? [{ ...c.forwarder, index: i }] : []));
  await sleep(REMOTE_IDLE_SETTLE_MS);
  progress(`remote engine: ${forwarded.length} idle forwarders, ${REMOTE_IDLE_WINDOW_MS / 1000} s`);
  const idle = await attempt('remote idle cost', () => measureRemoteIdle(forwarded, REMOTE_IDLE_WINDOW_MS));
  forwarded.forEach(({ index }, i) => {
    const result = results[index];
    if (result) result.idle = idle?.[i] ?? null;
  });

  const auto = cases.find((c) => c.relayPath === 'auto');
  progress(`remote engine: detection (${REMOTE_DETECTION_TRIALS} trials, remote-auto)`);
  const detected = auto ? await attempt('remote detection', () => detection(auto)) : null;

  for (const [index, c] of cases.entries()) {
    progress(`remote engine: connection setup (up to ${REMOTE_SETUP_CONNECTIONS} sequential): ${c.name}`);
    const result = results[index];
    if (!result) continue;
    result.setup = await attempt(`remote setup over ${c.name}`, async () => {
      const tally = await timeSetupWithin(c, {
        min: REMOTE_SETUP_MIN_CONNECTIONS,
        max: REMOTE_SETUP_CONNECTIONS,
        budgetMs: REMOTE_SETUP_BUDGET_MS,
      });
      return setupResult(tally, tally.samples.length + tally.errors.length);
    });
  }
  const runs = cases.map((): ThroughputResult[] => []);
  for (let round = 1; round <= REMOTE_THROUGHPUT_ROUNDS; round++) {
    for (const [index, c] of cases.entries()) {
      const earlier = runs[index] ?? [];
      if (round > 1 && (earlier.length === 0 || (earlier[0]?.seconds ?? Infinity) > REMOTE_SLOW_RUN_S))
        continue;
      progress(
        `remote engine: throughput (${REMOTE_THROUGHPUT_BYTES / 1024 ** 2} MiB), run ${round}: ${c.name}`,
      );
      const run = await attempt(`remote throughput over ${c.name}`, () =>
        measureThroughput(c, REMOTE_THROUGHPUT_BYTES),
      );
      if (run) earlier.push(run);
    }
  }
  runs.forEach((r, index) => {
    const result = results[index];
    if (result && r.length > 0) result.throughput = medianRun(r);
  });
  for (const [index, c] of cases.entries()) {
    // As in the local section, the exec-per-connection baseline is left out (no target), and so is
    // any case as slow to connect: 200 execs at once over SSH would take minutes.
    const setupMs = results[index]?.setup?.p50Ms ?? Infinity;
    if (c.name === REMOTE_EXEC_BASELINE || setupMs > REMOTE_SCALE_MAX_SETUP_MS) {
      progress(
        `remote engine: 200 concurrent echoes: ${c.name} left out (setup p50 ${Math.round(setupMs)} ms)`,
      );
      continue;
    }
    progress(`remote engine: 200 concurrent echoes: ${c.name}`);
    const result = results[index];
    if (result) result.scale = await attempt(`remote echoes over ${c.name}`, () => measureScale(c));
  }

  const atEnd = await Promise.all(cases.map((c) => portsPath(c).catch(() => '?')));
  results.forEach((result, i) => {
    const [before, after] = [atStart[i], atEnd[i]];
    result.portsPath = before === after ? (before ?? null) : `${before ?? '?'} → ${after ?? '?'}`;
  });
  return { skipped: null, relayPaths, cases: results, detection: detected, notSetUp: topology.notSetUp };
}
