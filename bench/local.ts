import {
  DETECTION_TRIALS,
  MEMORY_CONNECTIONS,
  SCALE_CONNECTIONS,
  SETUP_CONNECTIONS,
  SLOW_PATHS,
  THROUGHPUT_BYTES,
  THROUGHPUT_ROUNDS,
  WRK_DURATION_S,
} from './config.js';
import { progress } from './log.js';
import { measureConnectionMemory } from './measure/connection-memory.js';
import { setupResult, timeConnectionSetup } from './measure/connection-setup.js';
import { measureDetection, type Detection } from './measure/detection.js';
import { measureIdleCost, type IdleResult } from './measure/idle-cost.js';
import { restingChildren, waitQuiet } from './measure/quiesce.js';
import { measureRequests } from './measure/requests.js';
import { measureScale } from './measure/scale.js';
import { measureThroughput, medianRun, type ThroughputResult } from './measure/throughput.js';
import type { PathResult } from './report/results.js';
import type { Attempt } from './remote/section.js';
import type { Portpilot } from './setup/portpilot.js';
import { reportedPath, setUpPaths, type BenchPath } from './setup/topology.js';

type PerPathMeasure = 'setup' | 'requests' | 'memory' | 'scale';

function emptyResult(path: BenchPath): PathResult {
  const nothing = {
    setup: null,
    throughput: null,
    requests: null,
    detection: null,
    memory: null,
    scale: null,
  };
  return { name: path.name, portsPath: null, ...nothing };
}

/** The local section's figures. */
export interface LocalResults {
  results: PathResult[];
  idle: IdleResult | null;
  detection: Detection | null;
}

/**
 * The local section: every path side by side on the local engine (the idle forwarder first and
 * alone, then detection, then each measure path by path once the machine is quiet again).
 */
export async function measureLocal(
  image: string,
  portpilot: Portpilot,
  attempt: Attempt,
): Promise<LocalResults> {
  // The idle forwarder watches a container of its own, and its minute runs alone: with detection
  // and the paths' set-up alongside, the same forwarder measured up to twice its quiet cost.
  progress('idle cost of a forwarder (one minute, alone)');
  const idle = await attempt('idle cost', () => measureIdleCost(image, portpilot));
  progress(`detection latency (${DETECTION_TRIALS} trials)`);
  const detection = await attempt('detection', () => measureDetection(image, portpilot));
  const topology = await setUpPaths(image, portpilot);
  const resting = await restingChildren(topology.relayPids);
  const results = topology.paths.map(emptyResult);
  const pathsAtStart = await Promise.all(topology.paths.map((path) => reportedPath(portpilot, path)));

  // Measures each path the check admits, one after another, each once the machine is quiet again.
  const eachPath = async <T>(
    label: string,
    measure: (path: BenchPath) => Promise<T>,
    applies: (path: BenchPath) => boolean,
  ): Promise<(T | null)[]> => {
    const values: (T | null)[] = [];
    for (const path of topology.paths) {
      if (!applies(path)) {
        values.push(null);
        continue;
      }
      await waitQuiet(resting);
      progress(`${label}: ${path.name}`);
      values.push(await attempt(`${label} over ${path.name}`, () => measure(path)));
    }
    return values;
  };
  const perPath = async <K extends PerPathMeasure>(
    key: K,
    label: string,
    measure: (path: BenchPath) => Promise<NonNullable<PathResult[K]>>,
    applies: (path: BenchPath) => boolean = () => true,
  ) => {
    const values = await eachPath(label, measure, applies);
    for (const [index, result] of results.entries()) result[key] = values[index] ?? null;
  };
  const setupLabel = `connection setup (${SETUP_CONNECTIONS} sequential)`;
  await perPath(
    'setup',
    setupLabel,
    async (path) => setupResult((await timeConnectionSetup([path]))[0] ?? { samples: [], errors: [] }),
    (path) => SLOW_PATHS.includes(path.name),
  );
  const interleaved = topology.paths.filter((path) => !SLOW_PATHS.includes(path.name));
  await waitQuiet(resting);
  progress(`${setupLabel}: ${interleaved.map((path) => path.name).join(', ')}, taking turns`);
  const tallies = await timeConnectionSetup(interleaved);
  for (const [index, path] of interleaved.entries()) {
    const result = results[topology.paths.indexOf(path)];
    const tally = tallies[index];
    if (result && tally)
      result.setup = await attempt(`${setupLabel} over ${path.name}`, async () => setupResult(tally));
  }
  // Before the bulk measures: after them a daemon's garbage collector gives memory back for minutes,
  // and the connections' share would drown in it.
  await perPath(
    'memory',
    `memory per connection (${MEMORY_CONNECTIONS} idle)`,
    measureConnectionMemory,
    (path) => path.forwarded !== null,
  );
  // Round by round across the paths, so that the machine's drift reaches every path alike.
  const throughputRuns = topology.paths.map((): ThroughputResult[] => []);
  for (let round = 1; round <= THROUGHPUT_ROUNDS; round++) {
    const label = `throughput (${THROUGHPUT_BYTES / 1024 ** 3} GiB), run ${round}`;
    const runs = await eachPath(
      label,
      measureThroughput,
      (path) => round === 1 || !SLOW_PATHS.includes(path.name),
    );
    runs.forEach((run, index) => run && throughputRuns[index]?.push(run));
  }
  for (const [index, runs] of throughputRuns.entries()) {
    const result = results[index];
    if (result && runs.length > 0) result.throughput = medianRun(runs);
  }
  await perPath('requests', `requests/s (wrk, ${WRK_DURATION_S} s, Connection: close)`, measureRequests);
  // The baseline is left out here: two hundred `docker exec`s at once add a minute and no target.
  await perPath(
    'scale',
    `${SCALE_CONNECTIONS} concurrent echoes`,
    measureScale,
    (path) => path.name !== 'exec-per-connection',
  );

  const pathsAtEnd = await Promise.all(topology.paths.map((path) => reportedPath(portpilot, path)));
  for (const [index, result] of results.entries()) {
    const [before, after] = [pathsAtStart[index], pathsAtEnd[index]];
    result.portsPath = before === after ? before : `${before ?? '?'} → ${after ?? '?'}`;
    if (result.name === 'portpilot-wildcard') result.detection = detection?.wildcard ?? null;
    if (result.name === 'portpilot-loopback') result.detection = detection?.loopback ?? null;
  }

  return { results, idle, detection };
}
