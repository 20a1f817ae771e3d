import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from '../cleanup.js';
import { GREETING, SERVER_KINDS, WILDCARD_PORTS, type ServerKind } from '../config.js';
import { progress } from '../log.js';
import { listeningIn } from '../measure/proc.js';
import { SERVER_SCRIPT_PATH } from '../paths.js';
import { BENCH_LABEL, SERVER_IN_CONTAINER } from '../setup/containers.js';
import { startExecRelay } from '../setup/exec-baseline.js';
import { freeHostPort } from '../setup/host-ports.js';
import { Portpilot } from '../setup/portpilot.js';
import type { Endpoint } from '../setup/topology.js';
import { asUserArgv, podmanAs, type BenchUser } from '../setup/user.js';
import {
  ROOTLESS_EXEC_BASELINE,
  ROOTLESS_PUBLISHED,
  ROOTLESS_RELAY_PATHS,
  ROOTLESS_THROUGHPUT_BYTES,
} from './config.js';

/** A container of the user's rootless Podman. */
export interface RootlessContainer {
  id: string;
  /** Host pid of its init: /proc/PID/{net,root} show its namespace without an exec. */
  initPid: number;
}

/** One case: a forwarder run as the user with one `--relay-path`, or a baseline. */
export interface RootlessCase {
  name: string;
  relayPath: string | null;
  endpoints: Record<ServerKind, Endpoint>;
  container: RootlessContainer;
  forwarder: { portpilot: Portpilot; hostPid: number } | null;
}

const LISTEN_TIMEOUT_MS = 15_000;

function endpointsOf(make: (kind: ServerKind) => Endpoint): Record<ServerKind, Endpoint> {
  return Object.fromEntries(SERVER_KINDS.map((kind) => [kind, make(kind)])) as Record<ServerKind, Endpoint>;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes the user's bench containers whose bench process is gone (an interrupted run's leftovers). */
async function removeStaleRootless(user: BenchUser): Promise<void> {
  const listed = await podmanAs(user, [
    'ps',
    '--all',
    '--filter',
    `label=${BENCH_LABEL}`,
    '--format',
    '{{.ID}} {{index .Labels "portpilot.bench.run"}}',
  ]);
  for (const line of listed.split('\n').filter(Boolean)) {
    const [id = '', pid = ''] = line.split(' ');
    if (pid !== '' && processExists(Number(pid))) continue;
    progress(`removing leftover rootless bench container ${id}`);
    await podmanAs(user, ['rm', '--force', '--time', '0', id]).catch(() => undefined);
  }
}

/**
 * A container of the user's Podman with every bench server bound to 0.0.0.0 (as `podman run -p`
 * needs), `publish` host loopback ports mapped to them.
 */
async function serverContainer(
  user: BenchUser,
  image: string,
  publish: Partial<Record<ServerKind, number>> = {},
): Promise<RootlessContainer> {
  const args = ['run', '--detach', '--label', BENCH_LABEL, '--label', `portpilot.bench.run=${process.pid}`];
  // Debian's Podman cannot apply its default limits here ("error setting rlimit type 7").
  args.push('--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=4096:4096');
  for (const [kind, hostPort] of Object.entries(publish))
    args.push('-p', `127.0.0.1:${hostPort}:${WILDCARD_PORTS[kind as ServerKind]}`);
  const id = await podmanAs(user, [...args, `localhost/${image}`, 'sleep', 'infinity']);
  onCleanup(`remove rootless container ${id.slice(0, 12)}`, async () => {
    await podmanAs(user, ['rm', '--force', '--time', '0', id]).catch(() => undefined);
  });
  const initPid = Number(await podmanAs(user, ['inspect', '--format', '{{.State.Pid}}', id]));
  if (!/^[0-9a-f]{64}$/.test(id) || !(initPid > 0))
    throw new Error(`rootless container ${id} came up without an id and a pid`);
  // The user may not read the bench's files: the server program goes in over stdin.
  const script = await readFile(SERVER_SCRIPT_PATH);
  await podmanAs(user, ['exec', '-i', id, 'sh', '-c', `cat >${SERVER_IN_CONTAINER}`], script);
  const serverArgs: Record<ServerKind, string[]> = {
    greeting: [GREETING],
    source: [String(ROOTLESS_THROUGHPUT_BYTES)],
    http: [],
    echo: [],
  };
  for (const kind of SERVER_KINDS) {
    const port = String(WILDCARD_PORTS[kind]);
    await podmanAs(user, [
      'exec',
      '--detach',
      id,
      'python3',
      SERVER_IN_CONTAINER,
      kind,
      '0.0.0.0',
      port,
      ...serverArgs[kind],
    ]);
  }
  const addresses = SERVER_KINDS.map((kind) => ({ host: '0.0.0.0', port: WILDCARD_PORTS[kind] }));
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  while (!(await listeningIn(initPid, addresses)).every(Boolean)) {
    if (Date.now() > deadline) throw new Error(`the servers in rootless container ${id} never listened`);
    await sleep(50);
  }
  return { id, initPid };
}

/** A forwarder run as the user (`up --docker-path podman --relay-path PATH`), with a container of its own. */
async function portpilotCase(
  user: BenchUser,
  image: string,
  relayPath: string,
  logsDir: string,
): Promise<RootlessCase> {
  const container = await serverContainer(user, image);
  const portpilot = await Portpilot.create(logsDir, {
    prefix: [],
    env: {},
    user,
    engineArgs: ['--docker-path', 'podman'],
  });
  const hostPid = await portpilot.up(container.id, relayPath);
  const rows = await portpilot.waitForwarded(container.id, Object.values(WILDCARD_PORTS));
  const hostPort = (kind: ServerKind) => rows.get(WILDCARD_PORTS[kind])?.hostPort ?? 0;
  return {
    name: `rootless-${relayPath}`,
    relayPath,
    endpoints: endpointsOf((kind) => ({ host: '127.0.0.1', port: hostPort(kind) })),
    container,
    forwarder: { portpilot, hostPid },
  };
}

/**
 * The rootless cases, as the user: a forwarder per ROOTLESS_RELAY_PATHS value, and one container
 * for both baselines: its ports published with `podman run -p 127.0.0.1:HOSTPORT:PORT`
 * (rootlessport), and a host socat, run as the user, that runs `podman exec -i CID socat` per
 * connection.
 */
export async function setUpRootless(
  user: BenchUser,
  image: string,
  logsDir: string,
): Promise<{ cases: RootlessCase[]; notSetUp: string[] }> {
  await removeStaleRootless(user);
  const cases: RootlessCase[] = [];
  const notSetUp: string[] = [];
  for (const relayPath of ROOTLESS_RELAY_PATHS) {
    progress(`rootless Podman: a forwarder with --relay-path ${relayPath}`);
    try {
      cases.push(await portpilotCase(user, image, relayPath, logsDir));
    } catch (error) {
      const why = `rootless-${relayPath}: ${error instanceof Error ? error.message : String(error)}`;
      progress(`rootless Podman: could not set up ${why}`);
      notSetUp.push(why);
    }
  }
  progress('rootless Podman: the baselines (podman exec per connection, podman run -p)');
  const published = endpointsOf(() => ({ host: '127.0.0.1', port: 0 }));
  for (const kind of SERVER_KINDS) published[kind].port = await freeHostPort();
  const publish = Object.fromEntries(SERVER_KINDS.map((kind) => [kind, published[kind].port]));
  const baseline = await serverContainer(user, image, publish);
  const launcher = { engine: 'podman', prefix: asUserArgv(user, []) };
  const relays = await Promise.all(
    SERVER_KINDS.map((kind) => startExecRelay(baseline.id, WILDCARD_PORTS[kind], {}, launcher)),
  );
  cases.push({
    name: ROOTLESS_EXEC_BASELINE,
    relayPath: null,
    endpoints: endpointsOf((kind) => ({
      host: '127.0.0.1',
      port: relays[SERVER_KINDS.indexOf(kind)]?.hostPort ?? 0,
    })),
    container: baseline,
    forwarder: null,
  });
  cases.push({
    name: ROOTLESS_PUBLISHED,
    relayPath: null,
    endpoints: published,
    container: baseline,
    forwarder: null,
  });
  return { cases, notSetUp };
}
