import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  deterministicBytes,
  freeHostPort,
  isListeningInContainer,
  sha256,
  waitFor,
  type ServerAddress,
  type TestContainer,
  startTransferServers,
} from '../support/containers.js';
import { echoExact, exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;
const TRANSFER_BYTES = 20 * 1024 * 1024;
const CONCURRENT_CONNECTIONS = 30;
const HELPER = /netns-helper\.js/;

/** The forwarder's child processes, with their command lines. */
function childrenOf(pid: number): { pid: number; cmdline: string }[] {
  const children: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      children.push({ pid: Number(name), cmdline });
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}

async function forward(
  container: TestContainer,
  ports: readonly number[],
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
) {
  const { run, line } = await runUp(
    stateDir,
    ['--container-id', container.id, '--auto-forward', ...args],
    env,
  );
  expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
  const rows = await waitFor(async () => {
    const current = (await portsJson(stateDir, ['--container-id', container.id])).filter((row) =>
      ports.includes(row.containerPort),
    );
    return current.length === ports.length ? current : null;
  }, 5_000);
  return { rows, pid: line.forwarder?.pid ?? 0 };
}

/** Opens a connection and resolves once it is connected. */
async function open(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.setTimeout(60_000, () => socket.destroy(new Error(`no traffic on port ${port} for 60 s`)));
  await once(socket, 'connect');
  return socket;
}

describe.each(['127.0.0.1', '::1'] as const)(
  "a server on the container's %s, through its namespace helper (debian image)",
  (address: ServerAddress) => {
    const ports = { sink: 0, source: 0, echo: 0 };
    let container: TestContainer;
    let sourceSha = '';
    let forwarderPid = 0;

    it('is forwarded on the netns path', async () => {
      container = await scope.start(TEST_IMAGES.debian.tag);
      const servers = await startTransferServers(container.id, address, TRANSFER_BYTES);
      Object.assign(ports, servers.ports);
      sourceSha = servers.sourceSha;
      const { rows, pid } = await forward(container, Object.values(ports));
      forwarderPid = pid;
      for (const row of rows) expect(row).toMatchObject({ path: 'netns', hostPort: row.containerPort });
      // Nothing runs until the first connection needs the helper.
      expect(childrenOf(forwarderPid).filter((child) => HELPER.test(child.cmdline))).toEqual([]);
    });

    it('20 MB uploaded arrive unchanged, and the reply comes after the client half-closed', async () => {
      const data = randomBytes(TRANSFER_BYTES);
      expect((await exchange(ports.sink, data)).toString('utf8')).toBe(`${sha256(data)}\n`);
    });

    it('20 MB downloaded arrive unchanged; the server half-closes first and the client may still send', async () => {
      const socket = await open(ports.source);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await once(socket, 'end');
      const received = Buffer.concat(chunks);
      expect(received.length).toBe(TRANSFER_BYTES);
      expect(sha256(received)).toBe(sourceSha);
      // The server's FIN did not end the client's direction: it writes, ends, and the connection closes cleanly.
      expect(socket.writable).toBe(true);
      const closed = once(socket, 'close');
      socket.end(deterministicBytes(64 * 1024, 'after the server half-closed'));
      const [hadError] = (await closed) as [boolean];
      expect(hadError).toBe(false);
    });

    it(`${CONCURRENT_CONNECTIONS} concurrent connections all echo byte-exact, through one helper and no other process`, async () => {
      const sockets = await Promise.all(
        Array.from({ length: CONCURRENT_CONNECTIONS }, () => open(ports.echo)),
      );
      const payloads = sockets.map(() => randomBytes(256 * 1024));
      const echoed = await Promise.all(
        sockets.map(
          (socket, index) =>
            new Promise<Buffer>((resolve, reject) => {
              const payload = payloads[index] ?? Buffer.alloc(0);
              const chunks: Buffer[] = [];
              let received = 0;
              socket.on('data', (chunk: Buffer) => {
                chunks.push(chunk);
                received += chunk.length;
                if (received >= payload.length) resolve(Buffer.concat(chunks));
              });
              socket.on('error', reject);
              socket.write(payload);
            }),
        ),
      );
      echoed.forEach((reply, index) => expect(reply.equals(payloads[index] ?? Buffer.alloc(0))).toBe(true));
      // Every connection is open now: the forwarder has one child, the helper, however many there are.
      const children = childrenOf(forwarderPid);
      expect(children.map((child) => child.cmdline)).toHaveLength(1);
      expect(children[0]?.cmdline).toMatch(HELPER);
      for (const socket of sockets) socket.destroy();
    });

    it('a helper killed is started again; connections it handed over go on', async () => {
      const held = await open(ports.echo);
      const [helper] = childrenOf(forwarderPid).filter((child) => HELPER.test(child.cmdline));
      expect(helper).toBeDefined();
      process.kill(helper?.pid ?? 0, 'SIGKILL');
      await waitFor(() => !processAlive(helper?.pid ?? 0), 5_000, 'the helper to die');
      const line = Buffer.from('still here\n');
      expect((await echoExact(ports.echo, line)).equals(line)).toBe(true);
      held.write('held');
      const [reply] = (await once(held, 'data')) as [Buffer];
      expect(reply.toString()).toBe('held');
      held.destroy();
      const helpers = childrenOf(forwarderPid).filter((child) => HELPER.test(child.cmdline));
      expect(helpers).toHaveLength(1);
      expect(helpers[0]?.pid).not.toBe(helper?.pid);
    });

    it('down ends the helper with the forwarder', async () => {
      const helpers = childrenOf(forwarderPid).filter((child) => HELPER.test(child.cmdline));
      expect(helpers).toHaveLength(1);
      await runCli(stateDir, ['down', '--container-id', container.id]);
      expect(processAlive(forwarderPid)).toBe(false);
      await waitFor(() => !processAlive(helpers[0]?.pid ?? 0), 5_000, 'the helper to be gone');
    });
  },
);

describe('an image with no relay program (busybox without nc)', () => {
  it.each(['127.0.0.1', '::1'] as const)(
    'forwards an httpd on %s through the namespace helper, 20 MB byte-exact',
    async (address) => {
      const container = await scope.start(TEST_IMAGES.none.tag);
      const port = await freeHostPort();
      const data = randomBytes(TRANSFER_BYTES);
      await execa(
        DOCKER_COMMAND,
        ['exec', '-i', container.id, 'sh', '-c', 'mkdir -p /tmp/www && cat >/tmp/www/big'],
        {
          input: data,
        },
      );
      const host = address === '::1' ? '[::1]' : address;
      await execa(DOCKER_COMMAND, [
        'exec',
        '-d',
        container.id,
        'httpd',
        '-f',
        '-p',
        `${host}:${port}`,
        '-h',
        '/tmp/www',
      ]);
      await waitFor(() => isListeningInContainer(container.id, address, port), 10_000, 'httpd to listen');
      const { rows } = await forward(container, [port]);
      expect(rows[0]).toMatchObject({ path: 'netns', containerPort: port });
      const response = await exchange(port, Buffer.from('GET /big HTTP/1.0\r\n\r\n'));
      const body = response.subarray(response.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBe(TRANSFER_BYTES);
      expect(body.equals(data)).toBe(true);
      await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
    },
  );

  it('stops its idle helper after the idle spell; the next connection starts another', async () => {
    const container = await scope.start(TEST_IMAGES.none.tag);
    const port = await freeHostPort();
    await execa(DOCKER_COMMAND, [
      'exec',
      '-d',
      container.id,
      'httpd',
      '-f',
      '-p',
      `127.0.0.1:${port}`,
      '-h',
      '/',
    ]);
    await waitFor(() => isListeningInContainer(container.id, '127.0.0.1', port), 10_000, 'httpd to listen');
    const { pid } = await forward(container, [port], [], { PORTPILOT_AGENT_IDLE_MS: '1500' });
    const helpers = () => childrenOf(pid).filter((child) => HELPER.test(child.cmdline));
    const get = () => exchange(port, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    expect((await get()).toString()).toMatch(/^HTTP\/1\.[01] /);
    const [first] = helpers();
    expect(first).toBeDefined();
    await waitFor(() => helpers().length === 0, 10_000, 'the idle helper to be stopped');
    expect(processAlive(first?.pid ?? 0)).toBe(false);
    expect((await get()).toString()).toMatch(/^HTTP\/1\.[01] /);
    expect(helpers().map((child) => child.pid)).not.toContain(first?.pid);
    expect(helpers()).toHaveLength(1);
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  });

  it('resets a client of a declared port nothing listens on', async () => {
    const container = await scope.start(TEST_IMAGES.none.tag);
    const port = await freeHostPort();
    const { rows } = await forward(container, [port], ['--forward-port', String(port)]);
    expect(rows[0]).toMatchObject({ path: 'netns', origin: 'declared' });
    const socket = connect({ host: '127.0.0.1', port });
    const outcome = await new Promise<string>((resolve) => {
      socket.on('data', () => resolve('data'));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.on('end', () => resolve('end'));
    });
    expect(outcome).toBe('ECONNRESET');
    socket.destroy();
  });
});
