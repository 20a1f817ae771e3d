import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  deterministicBytes,
  freeHostPort,
  isListeningInContainer,
  sha256,
  TEST_SERVER,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { concurrentEchoFailures, FIRST_CLOSER, LARGE_BYTES, readThenReply } from '../support/mux-checks.js';
import { hostLoopbackListens, startTimedServerWith, timeWhen } from '../support/timed-server.js';

// A container with no network but its own loopback, from an image with nothing but busybox's shell
// and tools (no nc, no python, no perl): only the namespace helper can reach its servers. The image
// has no server to test with either, so the servers are the host's python3, run in the container's
// network namespace (`nsenter --net`): the forwarder sees them in that namespace's tables, as it
// would see any server in the container.

const scope = containerScope();
const { stateDir } = scope;
const HELPER = /netns-helper\.js/;

/** The forwarder's children running the namespace helper. */
function helpersOf(pid: number): number[] {
  return execaSyncChildren(pid)
    .filter((child) => HELPER.test(child.cmdline))
    .map((child) => child.pid);
}

function execaSyncChildren(pid: number): { pid: number; cmdline: string }[] {
  const children: { pid: number; cmdline: string }[] = [];
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  for (const child of text === '' ? [] : text.split(' ').map(Number)) {
    try {
      children.push({
        pid: child,
        cmdline: readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').join(' '),
      });
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}

describe('a --network none container whose image has only a shell, through the namespace helper', () => {
  let container: TestContainer;
  let netns: string[] = [];
  let forwarderPid = 0;
  const ports = { echo: 0, sink: 0, first: 0 };
  const servers: ResultPromise[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-bare-'));
  const fromContainer = deterministicBytes(LARGE_BYTES, 'bare-out');
  const firstFile = join(dir, 'first.bin');

  /** Starts test-server.py's `args` on the host's python3 inside the container's network namespace. */
  async function serve(port: number, args: readonly string[]): Promise<void> {
    servers.push(
      execa(netns[0] ?? 'nsenter', [...netns.slice(1), 'python3', '-c', ...args], { reject: false }),
    );
    await waitFor(
      () => isListeningInContainer(container.id, '127.0.0.1', port),
      10_000,
      `a server on ${port}`,
    );
  }

  beforeAll(async () => {
    container = await scope.start(TEST_IMAGES.none.tag, { runArgs: ['--network', 'none'] });
    const pid = (
      await execa(DOCKER_COMMAND, ['inspect', '-f', '{{.State.Pid}}', container.id])
    ).stdout.trim();
    netns = ['nsenter', '--target', pid, '--net'];
    ports.echo = await freeHostPort();
    ports.sink = await freeHostPort();
    ports.first = await freeHostPort();
    writeFileSync(firstFile, fromContainer);
    await serve(ports.echo, [TEST_SERVER, 'echo', '127.0.0.1', String(ports.echo)]);
    await serve(ports.sink, [TEST_SERVER, 'sink-sha256', '127.0.0.1', String(ports.sink)]);
    await serve(ports.first, [FIRST_CLOSER, String(ports.first), firstFile]);
    const { run, line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
    forwarderPid = line.forwarder?.pid ?? 0;
    await waitFor(
      async () => (await portsJson(stateDir, ['--container-id', container.id])).length >= 3,
      10_000,
      'the three servers in ports',
    );
  }, 120_000);

  afterAll(() => {
    for (const server of servers) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards each server on the netns path, the image running nothing of portpilot', async () => {
    const rows = await portsJson(stateDir, ['--container-id', container.id]);
    expect(rows.map((row) => row.path)).toEqual(['netns', 'netns', 'netns']);
    const inside = (await execa(DOCKER_COMMAND, ['top', container.id, '-o', 'pid,args'])).stdout;
    expect(inside).not.toMatch(/portpilot|python|perl/);
  });

  it('carries 50 MB each way byte-exact, passing a half-close each way', async () => {
    const toContainer = deterministicBytes(LARGE_BYTES, 'bare-in');
    const digest = (await exchange(ports.sink, toContainer)).toString('utf8').trim();
    expect(digest).toBe(sha256(toContainer));
    const reply = deterministicBytes(1024 * 1024, 'bare-reply');
    const read = await readThenReply(ports.first, reply);
    expect(read.length).toBe(fromContainer.length);
    expect(sha256(read)).toBe(sha256(fromContainer));
    const heard = await waitFor(
      () => {
        try {
          return readFileSync(`${firstFile}.heard`, 'utf8');
        } catch {
          return null;
        }
      },
      15_000,
      'the first-closer to record what it read',
    );
    expect(heard).toBe(sha256(reply));
  });

  it('carries 200 concurrent connections, none reset, none altered, through one helper', async () => {
    expect(await concurrentEchoFailures(ports.echo, 200, 64 * 1024)).toEqual([]);
    expect(helpersOf(forwarderPid)).toHaveLength(1);
  });

  it('forwards a server started after up within 2 s of its listen(), and withdraws it within 5 s of its close()', async () => {
    const port = await freeHostPort();
    const server = startTimedServerWith(netns, port);
    const listened = await server.listened;
    const forwarded = await timeWhen(() => hostLoopbackListens(port), 10_000, `host port ${port}`);
    expect(forwarded - listened).toBeLessThanOrEqual(2_000);
    expect(await exchange(port, Buffer.from('still here'))).toEqual(Buffer.from('still here'));
    const closed = await server.close();
    const withdrawn = await timeWhen(() => !hostLoopbackListens(port), 10_000, `host port ${port} to close`);
    expect(withdrawn - closed).toBeLessThanOrEqual(5_000);
  });

  it('keeps a connection going when its helper is killed mid-transfer, and the next connection starts another', async () => {
    const [helper] = helpersOf(forwarderPid);
    expect(helper).toBeGreaterThan(0);
    const socket = connect({ host: '127.0.0.1', port: ports.echo, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const first = deterministicBytes(1024 * 1024, 'bare-before');
    const second = deterministicBytes(1024 * 1024, 'bare-after');
    socket.write(first);
    await waitFor(() => Buffer.concat(chunks).length >= first.length, 15_000, 'the first half echoed');
    process.kill(helper ?? 0, 'SIGKILL');
    await waitFor(() => !processAlive(helper ?? 0), 5_000, 'the helper to die');
    // The connected socket is the forwarder's own: the transfer goes on without the helper.
    socket.end(second);
    await new Promise((resolve) => socket.on('close', resolve));
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(Buffer.concat([first, second])));
    const back = await exchange(ports.echo, Buffer.from('next'));
    expect(back.toString()).toBe('next');
    const helpers = helpersOf(forwarderPid);
    expect(helpers).toHaveLength(1);
    expect(helpers[0]).not.toBe(helper);
  });

  it('down leaves nothing: no forwarder, no helper, the host ports free', async () => {
    const helpers = helpersOf(forwarderPid);
    await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(processAlive(forwarderPid)).toBe(false);
    for (const helper of helpers) expect(processAlive(helper)).toBe(false);
    for (const port of Object.values(ports)) expect(hostLoopbackListens(port)).toBe(false);
  });
});
