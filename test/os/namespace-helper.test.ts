import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperConnectError, NamespaceHelper } from '../../src/forwarding/relay/netns/namespace-helper.js';

// The compiled helper (npm run build): the one the forwarder runs.
const HELPER = fileURLToPath(new URL('../../dist/forwarding/relay/netns/netns-helper.js', import.meta.url));

/** The helper in this process's own namespace: the same program, without nsenter. */
function spawnHere() {
  if (!existsSync(HELPER)) throw new Error(`${HELPER} is missing: run npm run build first`);
  return Promise.resolve(spawn(process.execPath, [HELPER], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
}

describe('NamespaceHelper with its helper program', () => {
  let server: Server;
  let port = 0;
  const helpers: NamespaceHelper[] = [];

  beforeAll(async () => {
    // Greets first, then echoes; answers the client's half-close with its own.
    server = createServer({ allowHalfOpen: true }, (socket) => {
      // Clients destroyed by the tests reset their connections.
      socket.on('error', () => undefined);
      socket.write('hello\n');
      socket.pipe(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await Promise.all(helpers.map((helper) => helper.close()));
    server.close();
  });

  function helper(): NamespaceHelper {
    const created = new NamespaceHelper(spawnHere, { retryMinMs: 50 });
    helpers.push(created);
    return created;
  }

  it('hands back a connected socket: the greeting, the echo and the half-close pass, one helper for all', async () => {
    const netns = helper();
    const sockets = await Promise.all([1, 2, 3].map(() => netns.connect('127.0.0.1', port)));
    const pid = netns.pid;
    expect(pid).toBeGreaterThan(0);
    for (const socket of sockets) {
      if (socket === null) throw new Error('no socket');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.end('ping');
      await once(socket, 'end');
      expect(Buffer.concat(chunks).toString()).toBe('hello\nping');
    }
    expect(netns.pid).toBe(pid);
  });

  it("writes the server's bytes, its greeting first, straight to the destination given", async () => {
    // The destination: one end of a local connection, whose other end collects what arrives.
    const collector = createServer();
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const accepted = once(collector, 'connection');
    const destination = connect({ host: '127.0.0.1', port: (collector.address() as AddressInfo).port });
    const [far] = (await accepted) as [Socket];
    const chunks: Buffer[] = [];
    far.on('data', (chunk: Buffer) => chunks.push(chunk));
    const socket = await helper().connect('127.0.0.1', port, destination);
    if (socket === null) throw new Error('no socket');
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    socket.end(big);
    await once(socket, 'end');
    destination.end();
    await once(far, 'end');
    const received = Buffer.concat(chunks);
    expect(received.subarray(0, 6).toString()).toBe('hello\n');
    expect(received.subarray(6).equals(big)).toBe(true);
    collector.close();
  });

  it("hands back a UDP socket bound to the loopback: every reply reaches this process, none the helper's copy", async () => {
    const echo = createSocket('udp4');
    echo.on('message', (message, from) => echo.send(message, from.port, from.address));
    await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
    const echoPort = echo.address().port;
    try {
      const netns = helper();
      for (const round of [1, 2]) {
        const socket = await netns.datagramSocket('127.0.0.1');
        if (socket === null) throw new Error('no socket');
        expect(socket.address().address).toBe('127.0.0.1');
        const received: string[] = [];
        socket.on('message', (message) => received.push(message.toString()));
        const sent = Array.from({ length: 200 }, (_, i) => `${round}/${i}`);
        for (const text of sent) socket.send(text, echoPort, '127.0.0.1');
        const deadline = Date.now() + 5_000;
        while (received.length < sent.length && Date.now() < deadline) await delay(20);
        expect(received.sort()).toEqual([...sent].sort());
        socket.close();
      }
    } finally {
      echo.close();
    }
  });

  it('rejects a refused connection with the errno, and keeps serving', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const closedPort = (closed.address() as AddressInfo).port;
    closed.close();
    const netns = helper();
    const refused = netns.connect('127.0.0.1', closedPort);
    await expect(refused).rejects.toBeInstanceOf(HelperConnectError);
    await expect(refused).rejects.toMatchObject({ errno: 'ECONNREFUSED' });
    const socket = (await netns.connect('127.0.0.1', port)) as Socket;
    expect(socket).not.toBeNull();
    socket.destroy();
  });

  it('starts a new helper when the one running was killed, even before its exit was seen', async () => {
    const netns = helper();
    (await netns.connect('127.0.0.1', port))?.destroy();
    const first = netns.pid ?? 0;
    process.kill(first, 'SIGKILL');
    const socket = await netns.connect('127.0.0.1', port);
    expect(socket).not.toBeNull();
    socket?.destroy();
    expect(netns.pid).not.toBe(first);
  });

  it('resolves null (the next path) while a helper that cannot start backs off, and ends its helper on close', async () => {
    const broken = new NamespaceHelper(
      () =>
        Promise.resolve(
          spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }),
        ),
      { retryMinMs: 60_000 },
    );
    expect(await broken.connect('127.0.0.1', port)).toBeNull();
    expect(broken.usable).toBe(false);
    await broken.close();

    const netns = helper();
    (await netns.connect('127.0.0.1', port))?.destroy();
    const pid = netns.pid ?? 0;
    await netns.close();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(netns.usable).toBe(false);
    const probe = connect({ host: '127.0.0.1', port });
    await once(probe, 'connect');
    probe.destroy();
  });

  it('gives up at once on a helper whose program cannot be spawned (no nsenter), and closes', async () => {
    const failures: string[] = [];
    const missing = new NamespaceHelper(
      () =>
        Promise.resolve(spawn('/nonexistent/nsenter', [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })),
      { retryMinMs: 60_000, onStartFailed: (reason) => failures.push(reason) },
    );
    const started = Date.now();
    expect(await missing.connect('127.0.0.1', port)).toBeNull();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(missing.usable).toBe(false);
    expect(failures[0]).toMatch(/the helper could not start: spawn \/nonexistent\/nsenter ENOENT/);
    await missing.close();
  });

  it('stops an idle helper, keeps what it handed back working, and is not stopped under a reverse listener', async () => {
    const stops: number[] = [];
    const netns = new NamespaceHelper(spawnHere, {
      retryMinMs: 50,
      idleMs: 300,
      onIdleStop: (ms) => stops.push(ms),
    });
    helpers.push(netns);
    const socket = await netns.connect('127.0.0.1', port);
    if (socket === null) throw new Error('no socket');
    const first = netns.pid ?? 0;
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const deadline = Date.now() + 5_000;
    while (netns.pid !== null && Date.now() < deadline) await delay(20);
    expect(netns.pid).toBeNull();
    expect(stops).toEqual([300]);
    // The stop is SIGTERM then a wait: the process is gone a moment after the lifecycle lets go of it.
    const gone = Date.now() + 5_000;
    while (isAlive(first) && Date.now() < gone) await delay(20);
    expect(isAlive(first)).toBe(false);
    // The connection it made outlives it.
    socket.end('after');
    await once(socket, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('hello\nafter');

    // A reverse listener holds it: no stop while it is open.
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const reversePort = (probe.address() as AddressInfo).port;
    probe.close();
    const listener = netns.listen('127.0.0.1', reversePort, (accepted) => accepted.destroy());
    await listener.listening;
    const holding = netns.pid;
    expect(holding).toBeGreaterThan(0);
    await delay(900);
    expect(netns.pid).toBe(holding);
    listener.close();
    const until = Date.now() + 5_000;
    while (netns.pid !== null && Date.now() < until) await delay(20);
    expect(netns.pid).toBeNull();
    // The next connection starts another.
    const again = await netns.connect('127.0.0.1', port);
    expect(again).not.toBeNull();
    expect(netns.pid).not.toBe(holding);
    again?.destroy();
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
