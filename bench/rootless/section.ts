import { readdir, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { WILDCARD_PORTS } from '../config.js';
import { progress } from '../log.js';
import { setupResult } from '../measure/connection-setup.js';
import { runTrial, summarise, type Trial } from '../measure/detection.js';
import { measureScale } from '../measure/scale.js';
import { measureThroughput, medianRun, type ThroughputResult } from '../measure/throughput.js';
import type { RemoteCaseResult, RootlessResults } from '../remote/results.js';
import type { Attempt } from '../remote/section.js';
import { timeSetupWithin } from '../remote/setup-budget.js';
import { hostPortFree } from '../setup/host-ports.js';
import { asUserArgv, podmanAs, type BenchUser } from '../setup/user.js';
import {
  ROOTLESS_DETECTION_FIRST_PORT,
  ROOTLESS_DETECTION_TRIALS,
  ROOTLESS_EXEC_BASELINE,
  ROOTLESS_IDLE_SETTLE_MS,
  ROOTLESS_IDLE_WINDOW_MS,
  ROOTLESS_SETUP,
  ROOTLESS_SLOW_RUN_S,
  ROOTLESS_SPAWN_WINDOW_MS,
  ROOTLESS_THROUGHPUT_BYTES,
  ROOTLESS_THROUGHPUT_ROUNDS,
  ROOTLESS_USER,
} from './config.js';
import { measureRootlessIdle } from './idle.js';
import { rootlessUserOrWhy } from './preflight.js';
import { setUpRootless, type RootlessCase, type RootlessContainer } from './topology.js';

// A rootless container has no cgroup of its own here: its processes are those in its pid namespace.
function namespacePids(container: RootlessContainer) {
  return {
    async pids(): Promise<number[]> {
      const own = await readlink(`/proc/${container.initPid}/ns/pid`);
      const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
      const inside = await Promise.all(
        pids.map(async (pid) => (await readlink(`/proc/${pid}/ns/pid`).catch(() => '')) === own),
      );
      return pids.filter((_, i) => inside[i]);
    },
  };
}

async function detection(user: BenchUser, auto: RootlessCase) {
  const trials: Trial[] = [];
  let port = ROOTLESS_DETECTION_FIRST_PORT;
  for (let i = 0; i < ROOTLESS_DETECTION_TRIALS; i++) {
    while (!(await hostPortFree(port))) port++;
    const bind = i % 2 === 0 ? '0.0.0.0' : '127.0.0.1';
    const engine = asUserArgv(user, ['podman']);
    trials.push(
      await runTrial(auto.container, namespacePids(auto.container), bind, port++, undefined, engine),
    );
  }
  const result = summarise(trials, 'any');
  if (result.trials === 0) throw new Error('no detection trial succeeded');
  return result;
}

async function portsPath(c: RootlessCase): Promise<string | null> {
  if (!c.forwarder) return null;
  const rows = await c.forwarder.portpilot.ports(c.container.id);
  const ports: number[] = Object.values(WILDCARD_PORTS);
  const seen = new Set(rows.filter((row) => ports.includes(row.containerPort)).map((row) => row.path));
  return [...seen].sort().join('+') || 'not forwarded';
}

/**
 * The rootless-Podman section: forwarders run as the user who owns the engine (auto, mux, exec)
 * side by side with `podman exec` per connection and `podman run -p`, measured one case after
 * another: the idle windows (every forwarder at once, before any traffic), detection (auto),
 * connection setup, throughput (round by round) and the concurrent echoes.
 */
export async function runRootlessSection(
  image: string,
  logsDir: string,
  attempt: Attempt,
): Promise<RootlessResults> {
  const user = await rootlessUserOrWhy(ROOTLESS_USER);
  const empty = { cases: [], detection: null, notSetUp: [], podman: null };
  if (typeof user === 'string') return { skipped: user, user: ROOTLESS_USER, ...empty };
  const podman = await podmanAs(user, ['version', '--format', '{{.Client.Version}}']);
  const { cases, notSetUp } = await setUpRootless(user, image, logsDir);
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

  const forwarded = cases.flatMap((c, index) => (c.forwarder ? [{ pid: c.forwarder.hostPid, index }] : []));
  await sleep(ROOTLESS_IDLE_SETTLE_MS);
  progress(
    `rootless Podman: ${forwarded.length} idle forwarders, ${ROOTLESS_IDLE_WINDOW_MS / 1000} s + ${ROOTLESS_SPAWN_WINDOW_MS / 1000} s`,
  );
  const idle = await attempt('rootless idle cost', () =>
    measureRootlessIdle(
      forwarded.map((f) => f.pid),
      ROOTLESS_IDLE_WINDOW_MS,
      ROOTLESS_SPAWN_WINDOW_MS,
    ),
  );
  forwarded.forEach(({ index }, i) => {
    const result = results[index];
    if (result) result.idle = idle?.[i] ?? null;
  });

  const auto = cases.find((c) => c.relayPath === 'auto');
  progress(`rootless Podman: detection (${ROOTLESS_DETECTION_TRIALS} trials, rootless-auto)`);
  const detected = auto ? await attempt('rootless detection', () => detection(user, auto)) : null;

  for (const [index, c] of cases.entries()) {
    const result = results[index];
    if (!result) continue;
    progress(`rootless Podman: connection setup (up to ${ROOTLESS_SETUP.max} sequential): ${c.name}`);
    result.setup = await attempt(`rootless setup over ${c.name}`, async () => {
      const tally = await timeSetupWithin(c, ROOTLESS_SETUP);
      return setupResult(tally, tally.samples.length + tally.errors.length);
    });
  }
  const runs = cases.map((): ThroughputResult[] => []);
  for (let round = 1; round <= ROOTLESS_THROUGHPUT_ROUNDS; round++) {
    for (const [index, c] of cases.entries()) {
      const earlier = runs[index] ?? [];
      if (round > 1 && (earlier.length === 0 || (earlier[0]?.seconds ?? Infinity) > ROOTLESS_SLOW_RUN_S))
        continue;
      progress(
        `rootless Podman: throughput (${ROOTLESS_THROUGHPUT_BYTES / 1024 ** 2} MiB), run ${round}: ${c.name}`,
      );
      const run = await attempt(`rootless throughput over ${c.name}`, () =>
        measureThroughput(c, ROOTLESS_THROUGHPUT_BYTES),
      );
      if (run) earlier.push(run);
    }
  }
  runs.forEach((r, index) => {
    const result = results[index];
    if (result && r.length > 0) result.throughput = medianRun(r);
  });
  for (const [index, c] of cases.entries()) {
    // As in the other sections, the exec-per-connection baseline is left out: no target.
    const result = results[index];
    if (!result || c.name === ROOTLESS_EXEC_BASELINE) continue;
    progress(`rootless Podman: 200 concurrent echoes: ${c.name}`);
    result.scale = await attempt(`rootless echoes over ${c.name}`, () => measureScale(c));
  }

  const atEnd = await Promise.all(cases.map((c) => portsPath(c).catch(() => '?')));
  results.forEach((result, i) => {
    const [before, after] = [atStart[i], atEnd[i]];
    result.portsPath = before === after ? (before ?? null) : `${before ?? '?'} → ${after ?? '?'}`;
  });
  return { skipped: null, user: user.name, podman, cases: results, detection: detected, notSetUp };
}
