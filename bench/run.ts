// `npm run bench`: sets up its own containers, servers and forwarders on the local engine, measures
// every path side by side in one run, prints the table and writes bench/latest.{md,svg} and
// bench/results/<date>.json. Exits non-zero only when something could not be measured.
import { join } from 'node:path';
import { cleanUp, guardRun } from './cleanup.js';
import {
  DETECTION_TRIALS,
  IDLE_PORTS,
  IDLE_WINDOW_MS,
  MEMORY_CONNECTIONS,
  PORTPILOT_PATHS,
  RUN_DEADLINE_MS,
  SCALE_BYTES,
  SCALE_CONNECTIONS,
  SETUP_CONNECTIONS,
  THROUGHPUT_BYTES,
  THROUGHPUT_ROUNDS,
  WRK_CONNECTIONS,
  WRK_DURATION_S,
} from './config.js';
import { measureLocal } from './local.js';
import { progress } from './log.js';
import { RESULTS_DIR } from './paths.js';
import { runRemoteSection } from './remote/section.js';
import { REMOTE_IDLE_WINDOW_MS, REMOTE_SETUP_CONNECTIONS, REMOTE_THROUGHPUT_BYTES } from './remote/config.js';
import type { RemoteResults, RootlessResults } from './remote/results.js';
import { ROOTLESS_USER } from './rootless/config.js';
import { otherSections } from './report/markdown.js';
import { evaluateRemoteTargets } from './report/remote.js';
import { evaluateRootlessTargets } from './report/rootless.js';
import { evaluateUdpTargets } from './report/udp.js';
import { ratiosToDirect, type RunResults } from './report/results.js';
import { idleTable, pathsTable, targetsTable } from './report/table.js';
import { evaluateTargets } from './report/targets.js';
import { writeResults } from './report/write.js';
import { removeStaleContainers } from './setup/containers.js';
import { debianImage, loadAverage, machineInfo, prepareEngine } from './setup/environment.js';
import { Portpilot } from './setup/portpilot.js';
import { runRootlessSection } from './rootless/section.js';
import { parseSections } from './sections.js';
import { runUdpSection } from './udp/section.js';

const sections = parseSections(process.argv.slice(2), process.env.BENCH_SECTIONS);

function remoteNotRun(why: string): RemoteResults {
  return { skipped: why, relayPaths: [], cases: [], detection: null, notSetUp: [] };
}

function rootlessNotRun(why: string): RootlessResults {
  return { skipped: why, user: ROOTLESS_USER, podman: null, cases: [], detection: null, notSetUp: [] };
}

async function run(): Promise<number> {
  const startedAt = new Date();
  progress('making the Docker engine and the test images ready (scripts/test-env.sh)');
  await prepareEngine();
  const [machine, image] = await Promise.all([machineInfo(), debianImage()]);
  await removeStaleContainers();
  const stamp = startedAt.toISOString().replace(/:/g, '-');
  const portpilot = await Portpilot.create(join(RESULTS_DIR, `${stamp}-forwarder-logs`));

  const errors: string[] = [];
  const attempt = async <T>(label: string, measure: () => Promise<T>): Promise<T | null> => {
    try {
      return await measure();
    } catch (error) {
      const message = `${label}: ${error instanceof Error ? error.message : String(error)}`;
      progress(`could not measure ${message}`);
      errors.push(message);
      return null;
    }
  };

  const local = sections.includes('local') ? await measureLocal(image, portpilot, attempt) : null;
  const results = local?.results ?? [];
  const idle = local?.idle ?? null;
  const detection = local?.detection ?? null;
  const remote = sections.includes('remote')
    ? ((await attempt('the remote engine', () =>
        runRemoteSection(image, join(RESULTS_DIR, `${stamp}-forwarder-logs`), attempt),
      )) ?? remoteNotRun(errors.at(-1) ?? 'it could not be set up'))
    : null;
  errors.push(...(remote?.notSetUp ?? []).map((why) => `remote engine: not set up: ${why}`));
  const rootless = sections.includes('rootless')
    ? ((await attempt('rootless Podman', () =>
        runRootlessSection(image, join(RESULTS_DIR, `${stamp}-forwarder-logs`), attempt),
      )) ?? rootlessNotRun(errors.at(-1) ?? 'it could not be set up'))
    : null;
  if (rootless?.skipped) progress(`rootless Podman: skipped: ${rootless.skipped}`);
  errors.push(...(rootless?.notSetUp ?? []).map((why) => `rootless Podman: not set up: ${why}`));
  const udp = sections.includes('udp')
    ? await attempt('UDP', () => runUdpSection(image, portpilot, attempt))
    : null;

  const direct = results.find((result) => result.name === 'direct');
  const finishedAt = new Date();
  machine.loadAtEnd = loadAverage();
  const runResults: RunResults = {
    date: startedAt.toISOString(),
    durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine,
    settings: {
      setupConnections: SETUP_CONNECTIONS,
      throughputBytes: THROUGHPUT_BYTES,
      throughputRounds: THROUGHPUT_ROUNDS,
      wrk: `-t1 -c${WRK_CONNECTIONS} -d${WRK_DURATION_S}s -H 'Connection: close'`,
      detectionTrialsPerBind: DETECTION_TRIALS,
      idlePorts: IDLE_PORTS,
      idleWindowS: IDLE_WINDOW_MS / 1000,
      memoryConnections: MEMORY_CONNECTIONS,
      scaleConnections: SCALE_CONNECTIONS,
      scaleBytes: SCALE_BYTES,
      portpilotPaths: PORTPILOT_PATHS.join(', '),
      remoteSetupConnections: REMOTE_SETUP_CONNECTIONS,
      remoteThroughputBytes: REMOTE_THROUGHPUT_BYTES,
      remoteIdleWindowS: REMOTE_IDLE_WINDOW_MS / 1000,
    },
    paths: results.map((result) => ({ ...result, ratios: ratiosToDirect(result, direct) })),
    idle,
    detection,
    targets: evaluateTargets(results, idle, detection?.all ?? null),
    sections,
    remote,
    remoteTargets: remote ? evaluateRemoteTargets(remote) : [],
    rootless,
    rootlessTargets: rootless && !rootless.skipped ? evaluateRootlessTargets(rootless) : [],
    udp,
    udpTargets: udp ? evaluateUdpTargets(udp) : [],
    errors,
  };
  const files = await writeResults(runResults);
  if (local) {
    process.stdout.write(
      `\n${pathsTable(runResults)}\n\nIdle forwarder:\n\n${idleTable(idle)}\n\nTargets:\n\n${targetsTable(runResults)}\n\n`,
    );
  }
  if (remote || rootless || sections.includes('udp'))
    process.stdout.write(`\n${otherSections(runResults)}\n`);
  const written = [files.json, files.markdown, ...(files.chart ? [files.chart] : [])].join(', ');
  progress(`wrote ${written} in ${runResults.durationS.toFixed(0)} s`);
  if (errors.length > 0) progress(`${errors.length} measure(s) could not be made: see above`);
  return errors.length > 0 ? 1 : 0;
}

guardRun(RUN_DEADLINE_MS);
let exitCode = 1;
try {
  exitCode = await run();
} catch (error) {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  progress('cleaning up the containers, forwarders and relays it started');
  await cleanUp();
}
process.exit(exitCode);
