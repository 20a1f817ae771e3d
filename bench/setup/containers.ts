import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { onCleanup } from '../cleanup.js';
import { progress } from '../log.js';
import { listeningIn } from '../measure/proc.js';
import { SERVER_SCRIPT_PATH } from '../paths.js';

/** Every bench container carries this label; the run label names the bench process that made it. */
export const BENCH_LABEL = 'portpilot.bench=1';
const RUN_LABEL_KEY = 'portpilot.bench.run';
/** Where the server program lives inside each container. */
export const SERVER_IN_CONTAINER = '/tmp/test-server.py';
const LISTEN_TIMEOUT_MS = 15_000;

/** A running bench container. */
export interface BenchContainer {
  id: string;
  name: string;
  /** Host pid of its init process: /proc/PID/{net,root,cgroup} show its namespace without an exec. */
  initPid: number;
  /** Its address on the default bridge, which the host routes to directly. */
  ip: string;
}

/** A server to start in a container: `kind` and arguments as test/support/servers/test-server.py takes them. */
export interface ServerSpec {
  kind: string;
  host: string;
  port: number;
  args?: readonly string[];
}

/** Removes the containers of earlier bench runs whose process is gone (an interrupted run's leftovers). */
export async function removeStaleContainers(): Promise<void> {
  const listed = await execa('docker', [
    'ps',
    '--all',
    '--filter',
    `label=${BENCH_LABEL}`,
    '--format',
    `{{.ID}} {{.Label "${RUN_LABEL_KEY}"}}`,
  ]);
  for (const line of listed.stdout.split('\n').filter(Boolean)) {
    const [id = '', pid = ''] = line.split(' ');
    if (pid !== '' && processExists(Number(pid))) continue;
    progress(`removing leftover bench container ${id}`);
    await execa('docker', ['rm', '--force', '--volumes', id], { reject: false });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a labelled container of `image` that idles (PID 1 `sleep infinity`: no wake-ups to bill to
 * the idle measure), with the server program copied in. `publish` maps host loopback ports with -p.
 */
export async function startContainer(
  image: string,
  role: string,
  publish: readonly { hostPort: number; containerPort: number; protocol?: 'udp' }[] = [],
): Promise<BenchContainer> {
  const name = `portpilot-bench-${role}-${randomBytes(3).toString('hex')}`;
  const args = ['run', '--detach', '--name', name, '--label', BENCH_LABEL];
  args.push('--label', `${RUN_LABEL_KEY}=${process.pid}`);
  // ::1 exists in the container only with this (Docker 20.10 disables IPv6 without daemon IPv6).
  args.push('--sysctl', 'net.ipv6.conf.lo.disable_ipv6=0');
  for (const { hostPort, containerPort, protocol } of publish)
    args.push('-p', `127.0.0.1:${hostPort}:${containerPort}${protocol ? `/${protocol}` : ''}`);
  args.push(image, 'sleep', 'infinity');
  onCleanup(`remove container ${name}`, async () => {
    await execa('docker', ['rm', '--force', '--volumes', name], { reject: false });
  });
  const id = (await execa('docker', args)).stdout.trim();
  const inspect = await execa('docker', [
    'inspect',
    '--format',
    '{{.State.Pid}} {{.NetworkSettings.IPAddress}}',
    id,
  ]);
  const [pid = '', ip = ''] = inspect.stdout.trim().split(' ');
  if (!/^[0-9a-f]{64}$/.test(id) || !(Number(pid) > 0) || ip === '') {
    throw new Error(
      `container ${name} did not come up with an id, a pid and an IP (got '${id}', '${pid}', '${ip}')`,
    );
  }
  await execa('docker', ['cp', SERVER_SCRIPT_PATH, `${id}:${SERVER_IN_CONTAINER}`]);
  return { id, name, initPid: Number(pid), ip };
}

/** Starts bench servers in the container (`docker exec -d`) and waits until every one listens. */
export async function startServers(container: BenchContainer, servers: readonly ServerSpec[]): Promise<void> {
  for (const server of servers) {
    await execa('docker', [
      'exec',
      '--detach',
      container.id,
      'python3',
      SERVER_IN_CONTAINER,
      server.kind,
      server.host,
      String(server.port),
      ...(server.args ?? []),
    ]);
  }
  await waitListening(container, servers);
}

/** Waits until every host:port listens inside the container. */
export async function waitListening(
  container: BenchContainer,
  addresses: readonly { host: string; port: number }[],
): Promise<void> {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    const listening = await listeningIn(container.initPid, addresses);
    if (listening.every(Boolean)) return;
    if (Date.now() > deadline) {
      const missing = addresses.filter((_, i) => !listening[i]).map(({ host, port }) => `${host}:${port}`);
      throw new Error(`servers in ${container.name} never listened on ${missing.join(', ')}`);
    }
    await sleep(50);
  }
}

/** Starts one process listening on every address and never accepting (the idle measure's ports). */
export async function startIdleListeners(
  container: BenchContainer,
  addresses: readonly { host: string; port: number }[],
): Promise<void> {
  const list = addresses.map(({ host, port }) => `${host}:${port}`).join(',');
  await execa('docker', ['exec', '--detach', container.id, 'python3', SERVER_IN_CONTAINER, 'idle', list]);
  await waitListening(container, addresses);
}
