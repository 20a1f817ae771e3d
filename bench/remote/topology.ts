import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { startPidNamespace, startSshEngine, type SshEngine } from '../../test/support/remote-engine.js';
import { onCleanup } from '../cleanup.js';
import { GREETING, SERVER_KINDS, WILDCARD_PORTS, type ServerKind } from '../config.js';
import { progress } from '../log.js';
import { listeningIn, processTree } from '../measure/proc.js';
import { startContainer, startServers, type BenchContainer } from '../setup/containers.js';
import { startExecRelay } from '../setup/exec-baseline.js';
import { freeHostPort } from '../setup/host-ports.js';
import { Portpilot } from '../setup/portpilot.js';
import type { Endpoint } from '../setup/topology.js';
import { REMOTE_EXEC_BASELINE, REMOTE_SSH_TUNNEL, REMOTE_THROUGHPUT_BYTES } from './config.js';

/** One case of the remote section: a portpilot forwarder with one `--relay-path`, or a baseline. */
export interface RemoteCase {
  name: string;
  /** The `--relay-path` its forwarder was started with; null for the baselines. */
  relayPath: string | null;
  endpoints: Record<ServerKind, Endpoint>;
  container: BenchContainer;
  /** portpilot cases: its CLI (run inside the case's pid namespace), and the forwarder's host pid. */
  forwarder: { portpilot: Portpilot; hostPid: number; namespaceInit: number } | null;
}

/** The remote engine and the cases set up against it. */
export interface RemoteTopology {
  sshPort: number;
  cases: RemoteCase[];
  /** Forwarders that could not be started or never forwarded (a path not usable here), with why. */
  notSetUp: string[];
}

const TUNNEL_LISTEN_TIMEOUT_MS = 15_000;

function endpointsOf(make: (kind: ServerKind) => Endpoint): Record<ServerKind, Endpoint> {
  return Object.fromEntries(SERVER_KINDS.map((kind) => [kind, make(kind)])) as Record<ServerKind, Endpoint>;
}

/** A container with every bench server bound to 0.0.0.0 (an `ssh -L` tunnel reaches them at its IP). */
async function serverContainer(image: string, role: string): Promise<BenchContainer> {
  const container = await startContainer(image, role);
  const args: Record<ServerKind, string[]> = {
    greeting: [GREETING],
    source: [String(REMOTE_THROUGHPUT_BYTES)],
    http: [],
    echo: [],
  };
  await startServers(
    container,
    SERVER_KINDS.map((kind) => ({ kind, host: '0.0.0.0', port: WILDCARD_PORTS[kind], args: args[kind] })),
  );
  return container;
}

/** The forwarder daemon among the namespace's processes, by its host pid. */
async function forwarderIn(namespaceInit: number): Promise<number> {
  for (const stat of await processTree(namespaceInit)) {
    const cmdline = await readFile(`/proc/${stat.pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('__forward-daemon')) return stat.pid;
  }
  throw new Error(`no forwarder daemon in the pid namespace of ${namespaceInit}`);
}

/**
 * A forwarder as on a remote engine's client: started with DOCKER_HOST=ssh://… inside a pid
 * namespace of its own, where the engine's pids are not in /proc (so it reads listeners through
 * exec, and dials container addresses only through its SSH link, as the engine's host does, the
 * way `ssh -L` does). Each case has its own container and namespace,
 * so that the idle window can tell the forwarders' processes apart.
 */
async function portpilotCase(
  image: string,
  ssh: SshEngine,
  relayPath: string,
  logsDir: string,
): Promise<RemoteCase> {
  const container = await serverContainer(image, `remote-${relayPath}`);
  const namespace = await startPidNamespace();
  onCleanup(`end the pid namespace of ${namespace.init}`, () => namespace.close());
  const portpilot = await Portpilot.create(logsDir, { prefix: namespace.enter, env: ssh.env });
  await portpilot.up(container.id, relayPath);
  const rows = await portpilot.waitForwarded(container.id, Object.values(WILDCARD_PORTS));
  const hostPort = (kind: ServerKind) => rows.get(WILDCARD_PORTS[kind])?.hostPort ?? 0;
  return {
    name: `remote-${relayPath}`,
    relayPath,
    endpoints: endpointsOf((kind) => ({ host: '127.0.0.1', port: hostPort(kind) })),
    container,
    forwarder: { portpilot, hostPid: await forwarderIn(namespace.init), namespaceInit: namespace.init },
  };
}

/** What a person does by hand: `ssh -N -L` over the same sshd to the container's address. */
async function sshTunnel(ssh: SshEngine, container: BenchContainer): Promise<Record<ServerKind, Endpoint>> {
  const endpoints = endpointsOf(() => ({ host: '127.0.0.1', port: 0 }));
  const forwards: string[] = [];
  for (const kind of SERVER_KINDS) {
    endpoints[kind].port = await freeHostPort();
    forwards.push('-L', `127.0.0.1:${endpoints[kind].port}:${container.ip}:${WILDCARD_PORTS[kind]}`);
  }
  const args = [
    '-N',
    '-o',
    'ExitOnForwardFailure=yes',
    '-p',
    String(ssh.port),
    ...forwards,
    'root@127.0.0.1',
  ];
  // The env's PATH finds the ssh wrapper that uses the sshd's client key.
  const child = spawn('ssh', args, { detached: true, stdio: 'ignore', env: { ...process.env, ...ssh.env } });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start ssh -L');
  onCleanup('stop the ssh -L tunnel', () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  const deadline = Date.now() + TUNNEL_LISTEN_TIMEOUT_MS;
  while (!(await listeningIn('self', Object.values(endpoints))).every(Boolean)) {
    if (child.exitCode !== null) throw new Error(`ssh -L exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('ssh -L never listened on its local ports');
    await sleep(50);
  }
  return endpoints;
}

/**
 * Starts an sshd on 127.0.0.1 that makes the local engine a remote one (the fault tests' helper),
 * then: a forwarder per `--relay-path` value, and the two baselines (a host socat running `docker exec`
 * over SSH per connection, and an `ssh -L` tunnel to the container's address), each reaching the
 * same servers bound to 0.0.0.0.
 */
export async function setUpRemote(
  image: string,
  relayPaths: readonly string[],
  logsDir: string,
): Promise<RemoteTopology> {
  const ssh = await startSshEngine(await freeHostPort(), { maxStartups: '200' });
  onCleanup('stop the bench sshd', () => ssh.close());
  const version = await execa('docker', ['version', '--format', '{{.Server.Version}}'], {
    env: ssh.env,
    reject: false,
  });
  if (version.exitCode !== 0)
    throw new Error(`docker over ssh://127.0.0.1:${ssh.port} failed: ${version.stderr}`);
  progress(
    `remote engine: sshd on 127.0.0.1:${ssh.port}; forwarders for --relay-path ${relayPaths.join(', ')}`,
  );
  const cases: RemoteCase[] = [];
  const notSetUp: string[] = [];
  // Side by side: each waits on docker over SSH most of its time.
  const started = await Promise.allSettled(
    relayPaths.map((relayPath) => portpilotCase(image, ssh, relayPath, logsDir)),
  );
  for (const [i, outcome] of started.entries()) {
    if (outcome.status === 'fulfilled') {
      cases.push(outcome.value);
      continue;
    }
    const error: unknown = outcome.reason;
    const why = `remote-${relayPaths[i] ?? '?'}: ${error instanceof Error ? error.message : String(error)}`;
    progress(`remote engine: could not set up ${why}`);
    notSetUp.push(why);
  }

  progress('remote engine: the baselines (exec per connection over SSH, ssh -L)');
  const baseline = await serverContainer(image, 'remote-baseline');
  const relays = await Promise.all(
    SERVER_KINDS.map((kind) => startExecRelay(baseline.id, WILDCARD_PORTS[kind], ssh.env)),
  );
  cases.push({
    name: REMOTE_EXEC_BASELINE,
    relayPath: null,
    endpoints: endpointsOf((kind) => ({
      host: '127.0.0.1',
      port: relays[SERVER_KINDS.indexOf(kind)]?.hostPort ?? 0,
    })),
    container: baseline,
    forwarder: null,
  });
  cases.push({
    name: REMOTE_SSH_TUNNEL,
    relayPath: null,
    endpoints: await sshTunnel(ssh, baseline),
    container: baseline,
    forwarder: null,
  });
  return { sshPort: ssh.port, cases, notSetUp };
}
