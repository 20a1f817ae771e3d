import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  connectInContainer,
  deterministicBytes,
  freeHostPort,
  isListeningInContainer,
  sha256,
  waitFor,
} from '../support/containers.js';
import { TEST_IMAGES } from '../support/images.js';
import { execIn } from '../support/mux-checks.js';
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
const ENGINE = [DOCKER_COMMAND];
const MB = 1024 * 1024;

let ssh: SshEngine;
let namespace: PidNamespace;
let containerId: string;
const servers: Server[] = [];
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  for (const server of servers) server.close();
  await namespace?.close();
  await ssh?.close();
});

async function hostServer(onSocket: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

const fromHost = deterministicBytes(4 * MB, 'reverse-from-host');
const toHost = deterministicBytes(4 * MB, 'reverse-to-host');
const heard = { afterOwnEnd: -1 };
let echoHost = 0;
let firstCloserHost = 0;
let unnamedHost = 0;
let echoPort = 0;
let firstCloserPort = 0;
let refusedPort = 0;

// In the container: reads until the server's EOF, then sends argv[3] bytes and half-closes; prints
// what it read.
const READ_THEN_SEND = `
import socket, sys
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
got = b''
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    got += chunk
conn.sendall(b'y' * int(sys.argv[3]))
conn.shutdown(socket.SHUT_WR)
conn.recv(1)
sys.stdout.write(got.decode())
`;

const rowsNow = async () => {
  const run = await namespace.cli(['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === containerId);
};

/** The mux agents running in the container (its first comment line is in their argv; not in this script's). */
async function agentsInContainer(): Promise<number> {
  const script =
    'for p in /proc/[0-9]*; do tr "\\000" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "portpilot mu[x] agent" || true';
  return Number((await execIn(ENGINE, containerId, ['sh', '-c', script])).trim());
}

async function up(): Promise<void> {
  const run = await namespace.cli(
    [
      'up',
      '--container-id',
      containerId,
      '--auto-forward',
      '--reverse-port',
      `${echoHost}:${echoPort}`,
      '--reverse-port',
      `${firstCloserHost}:${firstCloserPort}`,
      '--reverse-port',
      `${await freeHostPort()}:${refusedPort}`,
    ],
    ssh.env,
  );
  const line = JSON.parse(run.stdout.trim() || '{}') as UpLine;
  expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
  for (const port of [echoPort, firstCloserPort, refusedPort]) {
    await waitFor(
      () => isListeningInContainer(containerId, '127.0.0.1', port),
      15_000,
      `a listener on ${port}`,
    );
  }
}

// A container on no network behind DOCKER_HOST=ssh://, its forwarder in a pid namespace that cannot
// see the engine's pids: no namespace helper can serve it, so its reverse ports take the mux channel.
beforeAll(async () => {
  // Writes 4 MB at once, reads to the client's EOF, then answers with the sha256 of what it read.
  echoHost = await hostServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(fromHost);
    const hash = createHash('sha256');
    socket.on('data', (chunk: Buffer) => hash.update(chunk));
    socket.on('end', () => socket.end(hash.digest('hex')));
  });
  // Greets and half-closes at once, then counts what the client sends after that.
  firstCloserHost = await hostServer((socket) => {
    let total = 0;
    socket.on('error', () => undefined);
    socket.end('hello');
    socket.on('data', (chunk: Buffer) => (total += chunk.length));
    socket.on('end', () => {
      heard.afterOwnEnd = total;
      socket.destroy();
    });
  });
  unnamedHost = await hostServer((socket) => socket.end('nobody should read this'));
  [echoPort, firstCloserPort, refusedPort] = [
    await freeHostPort(),
    await freeHostPort(),
    await freeHostPort(),
  ];
  const container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'none'] });
  containerId = container.id;
  ssh = await startSshEngine();
  namespace = await startPidNamespace(stateDir);
  await up();
});

describe('reverse ports over the mux channel, to a container behind DOCKER_HOST=ssh://', () => {
  it('are listed by ports --json with direction "reverse" and path "mux"', async () => {
    const reverse = (await rowsNow()).filter((row) => row.direction === 'reverse');
    expect(reverse.map((row) => [row.containerPort, row.hostPort, row.path]).sort()).toEqual(
      [
        [echoPort, echoHost, 'mux'],
        [firstCloserPort, firstCloserHost, 'mux'],
        [refusedPort, expect.any(Number), 'mux'],
      ].sort(),
    );
  });

  it('carry a client in the container to the host server on 127.0.0.1, 4 MB each way byte-exact, with the half-close', async () => {
    const answer = await connectInContainer(containerId, '127.0.0.1', echoPort, toHost);
    expect(answer.length).toBe(fromHost.length + 64);
    expect(sha256(answer.subarray(0, fromHost.length))).toBe(sha256(fromHost));
    // The host server answered the client's half-close with the sha256 of all it had read.
    expect(answer.subarray(fromHost.length).toString()).toBe(sha256(toHost));
  });

  it("pass the host server's half-close into the container, and the client's bytes after it", async () => {
    heard.afterOwnEnd = -1;
    const said = await execIn(ENGINE, containerId, [
      'python3',
      '-c',
      READ_THEN_SEND,
      '127.0.0.1',
      String(firstCloserPort),
      String(MB),
    ]);
    expect(said).toBe('hello');
    await waitFor(() => heard.afterOwnEnd === MB, 10_000, 'the host server to read 1 MB after its own end');
  });

  it('reset the connection when nothing listens on the host port', async () => {
    await expect(connectInContainer(containerId, '127.0.0.1', refusedPort, Buffer.from('x'))).rejects.toThrow(
      /reset|refused/i,
    );
  });

  it('leave every host port not named out of reach', async () => {
    await expect(connectInContainer(containerId, '127.0.0.1', unnamedHost, Buffer.from('x'))).rejects.toThrow(
      /refused/i,
    );
  });

  it("close their listeners in the container when the forwarder ends (down's SIGTERM), and down leaves nothing", async () => {
    const pid = forwarderHostPid(containerId);
    expect(pid).not.toBeNull();
    process.kill(pid ?? 0, 'SIGTERM');
    await waitFor(() => forwarderHostPid(containerId) === null, 10_000, 'the forwarder to exit');
    // The container still runs: its listeners and its agent are gone with the forwarder.
    for (const port of [echoPort, firstCloserPort, refusedPort]) {
      await waitFor(
        async () => !(await isListeningInContainer(containerId, '127.0.0.1', port)),
        10_000,
        `no listener on ${port}`,
      );
    }
    await waitFor(async () => (await agentsInContainer()) === 0, 10_000, 'no mux agent in the container');
    // Served again by the next forwarder, then down.
    await up();
    const down = await namespace.cli(['down', '--container-id', containerId], ssh.env);
    expect(down.exitCode, down.stderr).toBe(0);
    await waitFor(() => forwarderHostPid(containerId) === null, 10_000, 'the forwarder to exit');
    await waitFor(() => sshClientPids(ssh.port).length === 0, 10_000, 'the ssh link to close');
    const state = await execa(DOCKER_COMMAND, ['inspect', '-f', '{{.State.Running}}', containerId]);
    expect(state.stdout.trim()).toBe('false');
    // Started again, the container has no listener of ours and no agent: nothing came back.
    await execa(DOCKER_COMMAND, ['start', containerId]);
    expect(await isListeningInContainer(containerId, '127.0.0.1', echoPort)).toBe(false);
    expect(await agentsInContainer()).toBe(0);
    expect((await rowsNow()).filter((row) => row.direction === 'reverse')).toEqual([]);
  });
});
