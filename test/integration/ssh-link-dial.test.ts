import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  deterministicBytes,
  freeHostPort,
  sha256,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import {
  LARGE_BYTES,
  concurrentEchoFailures,
  hostProcessesNaming,
  processesIn,
  readThenReply,
  startFirstCloser,
  startLoopbackServer,
} from '../support/mux-checks.js';
import { hostLoopbackListens } from '../support/timed-server.js';
import {
  forwarderHostPid,
  sshClientPids,
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from '../faults/support/remote-engine.js';

const scope = containerScope();
const { stateDir } = scope;
// The engine is this machine's: the test reaches the container with the local CLI, the forwarder over SSH.
const ENGINE = [DOCKER_COMMAND];
const forwardersDir = join(stateDir, 'forwarders');

/** One server set: an echo, a sha256 sink and a first-closer, all bound to `address`. */
interface Servers {
  address: string;
  echo: number;
  sink: number;
  first: number;
  firstCloser: { heard(): Promise<string> };
}

async function startServers(containerId: string, address: string, data: Uint8Array): Promise<Servers> {
  const [echo, sink, first] = [await freeHostPort(), await freeHostPort(), await freeHostPort()];
  await startLoopbackServer(ENGINE, containerId, 'echo', echo, address);
  await startLoopbackServer(ENGINE, containerId, 'sink-sha256', sink, address);
  const firstCloser = await startFirstCloser(ENGINE, containerId, first, data, address);
  return { address, echo, sink, first, firstCloser };
}

function logOf(containerId: string): string {
  const file = join(forwardersDir, `${containerId}.log`);
  const log = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return log
    .split('\n')
    .filter((line) => !line.includes('"portEvent"'))
    .join('\n');
}

async function rowsOf(namespace: PidNamespace, containerId: string): Promise<PortRow[]> {
  const run = await namespace.cli(['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === containerId);
}

async function up(namespace: PidNamespace, ssh: SshEngine, container: TestContainer, ports: number) {
  const run = await namespace.cli(['up', '--container-id', container.id, '--auto-forward'], ssh.env);
  const line = JSON.parse(run.stdout.trim() || '{}') as UpLine;
  expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
  await waitFor(
    async () => (await rowsOf(namespace, container.id)).length === ports,
    20_000,
    `${ports} ports forwarded`,
  );
}

/** True when nothing accepts on the unix socket at `path` any more. */
function refuses(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const pathOf = (rows: PortRow[], port: number) => rows.find((row) => row.containerPort === port)?.path;

let ssh: SshEngine;
let refusing: SshEngine;
let namespace: PidNamespace;
let container: TestContainer;
let fallback: TestContainer;
let wildcard: Servers;
let loopback: Servers;
let fallbackPorts: { wildcard: number; loopback: number };
const fromContainer = deterministicBytes(LARGE_BYTES, 'ssh-dial-out');

// Registered after the scope's: runs first, so `down` finds the forwarders already gone.
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
  await refusing?.close();
});

// A container on the engine's bridge behind DOCKER_HOST=ssh://, forwarded from a pid namespace that
// cannot see the engine's pids: the remote host routes to the container, so the link dials it.
beforeAll(async () => {
  container = await scope.start(TEST_IMAGES.debian.tag);
  wildcard = await startServers(container.id, '0.0.0.0', fromContainer);
  loopback = await startServers(container.id, '127.0.0.1', fromContainer);
  fallback = await scope.start(TEST_IMAGES.debian.tag);
  fallbackPorts = { wildcard: await freeHostPort(), loopback: await freeHostPort() };
  await startLoopbackServer(ENGINE, fallback.id, 'echo', fallbackPorts.wildcard, '0.0.0.0');
  await startLoopbackServer(ENGINE, fallback.id, 'echo', fallbackPorts.loopback, '127.0.0.1');
  ssh = await startSshEngine();
  // Channels to TCP addresses refused, the one to the engine's socket allowed. (`AllowTcpForwarding
  // no` would refuse that one too: OpenSSH applies it to socket channels as well.)
  refusing = await startSshEngine(['PermitOpen [/var/run/docker.sock]:*']);
  namespace = await startPidNamespace(stateDir);
  await up(namespace, ssh, container, 6);
});

describe('an SSH link that dials the containers of its remote engine', () => {
  it('dials a 0.0.0.0 server directly and a 127.0.0.1 one through the relay agent, over the link', async () => {
    const rows = await rowsOf(namespace, container.id);
    for (const port of [wildcard.echo, wildcard.sink, wildcard.first])
      expect(pathOf(rows, port)).toBe('direct');
    for (const port of [loopback.echo, loopback.sink, loopback.first])
      expect(pathOf(rows, port)).toBe('agent');
    expect(logOf(container.id)).toMatch(/the SSH link dials container addresses/);
  });

  for (const bound of ['0.0.0.0', '127.0.0.1'] as const) {
    const servers = () => (bound === '0.0.0.0' ? wildcard : loopback);

    it(`carries 50 MB each way byte-exact with a half-close each way, to a server on ${bound}`, async () => {
      const s = servers();
      const toContainer = deterministicBytes(LARGE_BYTES, `ssh-dial-in-${bound}`);
      const digest = (await exchange(s.sink, toContainer)).toString('utf8').trim();
      expect(digest, logOf(container.id)).toBe(sha256(toContainer));
      const reply = deterministicBytes(1024 * 1024, `ssh-dial-reply-${bound}`);
      const read = await readThenReply(s.first, reply);
      expect(read.length, logOf(container.id)).toBe(fromContainer.length);
      expect(sha256(read)).toBe(sha256(fromContainer));
      expect(await s.firstCloser.heard()).toBe(sha256(reply));
    });

    it(`carries 200 concurrent connections to a server on ${bound}, none reset, none altered`, async () => {
      const s = servers();
      expect(await concurrentEchoFailures(s.echo, 200, 64 * 1024), logOf(container.id)).toEqual([]);
    });
  }

  it('opens no process per connection: the one ssh of the link, and one relay agent in the container', async () => {
    expect(sshClientPids(ssh.port)).toHaveLength(1);
    expect(await processesIn(ENGINE, container.id, 'portpilot relay agent')).toHaveLength(1);
    const sockets = readdirSync(forwardersDir).filter((name) => name.includes('.dial-'));
    // At most one forward per target dialled (three servers on 0.0.0.0 and the agent), never one
    // per connection; a forward idle for a minute is withdrawn.
    expect(sockets.length).toBeGreaterThan(0);
    expect(sockets.length).toBeLessThanOrEqual(4);
  });

  it('loses its link and every forward with a SIGKILLed forwarder; the next one clears their sockets', async () => {
    const pid = forwarderHostPid(container.id);
    expect(pid).not.toBeNull();
    process.kill(pid ?? 0, 'SIGKILL');
    await waitFor(() => sshClientPids(ssh.port).length === 0, 15_000, 'the ssh link to end with it');
    const left = readdirSync(forwardersDir).filter((name) => name.includes('.dial-'));
    for (const name of left) expect(await refuses(join(forwardersDir, name))).toBe(true);
    await up(namespace, ssh, container, 6);
    const rows = await rowsOf(namespace, container.id);
    expect(pathOf(rows, wildcard.echo)).toBe('direct');
    expect(readdirSync(forwardersDir).filter((name) => left.includes(name))).toEqual([]);
    const payload = deterministicBytes(64 * 1024, 'ssh-dial-after-kill');
    expect(sha256(await exchange(wildcard.echo, payload))).toBe(sha256(payload));
  });

  it('falls back to the mux channel where sshd refuses channels to TCP addresses, and still carries connections', async () => {
    await up(namespace, refusing, fallback, 2);
    const rows = await rowsOf(namespace, fallback.id);
    expect(rows.map((row) => row.path)).toEqual(['mux', 'mux']);
    expect(logOf(fallback.id)).toMatch(/the SSH link does not dial container addresses/);
    expect(logOf(fallback.id)).toMatch(/administratively prohibited/);
    for (const port of [fallbackPorts.wildcard, fallbackPorts.loopback]) {
      const payload = deterministicBytes(1024 * 1024, `ssh-dial-fallback-${port}`);
      expect(sha256(await exchange(port, payload)), logOf(fallback.id)).toBe(sha256(payload));
    }
  });

  it('leaves nothing after down: no forwarder, no ssh, no socket file, no agent, host ports free', async () => {
    for (const [engine, target] of [
      [ssh, container],
      [refusing, fallback],
    ] as const) {
      expect(forwarderHostPid(target.id)).not.toBeNull();
      const down = await namespace.cli(['down', '--container-id', target.id], engine.env);
      expect(down.exitCode, down.stderr).toBe(0);
      await waitFor(() => forwarderHostPid(target.id) === null, 10_000, 'the forwarder to exit');
      await waitFor(() => sshClientPids(engine.port).length === 0, 10_000, 'the ssh link to close');
      const state = await execa(DOCKER_COMMAND, ['inspect', '-f', '{{.State.Running}}', target.id]);
      expect(state.stdout.trim()).toBe('false');
      await waitFor(() => hostProcessesNaming(target.id).length === 0, 10_000, 'no engine client left');
    }
    expect(readdirSync(forwardersDir).filter((name) => /\.(sock|ctl)$/.test(name))).toEqual([]);
    for (const port of [wildcard.echo, wildcard.sink, wildcard.first, loopback.echo, loopback.sink]) {
      expect(hostLoopbackListens(port)).toBe(false);
    }
  });
});
