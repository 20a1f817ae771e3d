import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  bindUdpRelay,
  MAX_UDP_PAYLOAD_BYTES,
  sessionIdleMs,
  type UdpRelayOptions,
} from '../../src/forwarding/relay/udp-relay.js';
import { bindUdpForwardRelay, NATIVE_TARGET_POLL_MS } from '../../src/forwarding/relay/udp-forward-relay.js';
import { nativeUdpRelayProgram } from '../../src/forwarding/relay/native-udp/native-udp-build.js';
import { daemonRunner } from '../../src/runtime/process-runner.js';
import type { HostListener } from '../../src/forwarding/host/host-listener.js';

const stateRoot = await mkdtemp(join(tmpdir(), 'portpilot-udp-relay-'));
afterAll(() => rm(stateRoot, { recursive: true, force: true }));
const buildLog: string[] = [];
const native = {
  program: nativeUdpRelayProgram(stateRoot, daemonRunner, (message) => buildLog.push(message), {}),
  runner: daemonRunner,
};

/**
 * Both relays of a UDP forward, held to the same behaviour: the in-process one, and the native program
 * (udp-forward-relay.ts chooses it for a target sent to directly). A native relay hears of a new target
 * within NATIVE_TARGET_POLL_MS; `settle` waits that long (the in-process one looks at every datagram).
 */
const RELAYS = [
  { name: 'in-process', bind: (options: UdpRelayOptions) => bindUdpRelay(options), settleMs: 0 },
  {
    name: 'native',
    bind: (options: UdpRelayOptions) => bindUdpForwardRelay(options, native),
    settleMs: NATIVE_TARGET_POLL_MS + 150,
  },
] as const;

const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

/** An echo server on 127.0.0.1 that records the peer of every datagram. */
async function echoServer(
  port = 0,
): Promise<{ port: number; peers: string[]; socket: Socket; close(): Promise<void> }> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const peers: string[] = [];
  socket.on('message', (message, peer) => {
    peers.push(`${peer.address}:${peer.port}`);
    socket.send(message, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= new Promise<void>((resolve) => socket.close(() => resolve())));
  opened.push({ close });
  return { port: socket.address().port, peers, socket, close };
}

async function relayTo(
  bind: (options: UdpRelayOptions) => Promise<HostListener | null>,
  serverPort: number | null,
  idleMs = 60_000,
): Promise<HostListener> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const relay = await bind({
      port,
      idleMs,
      target: () => (serverPort === null ? null : { address: '127.0.0.1', port: serverPort }),
    });
    if (relay) {
      opened.push(relay);
      return relay;
    }
  }
  throw new Error('no free UDP port for the relay');
}

async function client(host = '127.0.0.1'): Promise<{ socket: Socket; next(): Promise<Buffer> }> {
  const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  opened.push({ close: () => new Promise<void>((resolve) => socket.close(() => resolve())) });
  const queue: Buffer[] = [];
  const waiters: Array<(message: Buffer) => void> = [];
  socket.on('message', (message) => {
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  return {
    socket,
    next: () => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const waiter = (message: Buffer) => (clearTimeout(timer), resolve(message));
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error('no datagram in 3 s'));
        }, 3_000);
        waiters.push(waiter);
      });
    },
  };
}

describe.each(RELAYS)('the $name UDP relay', ({ bind, settleMs }) => {
  const settle = () => new Promise((resolve) => setTimeout(resolve, settleMs));

  it('passes datagrams of 1 and 65,507 bytes unchanged both ways, on 127.0.0.1 and ::1', async () => {
    const server = await echoServer();
    const relay = await relayTo(bind, server.port);
    expect(relay.addresses).toContain('127.0.0.1');
    for (const host of relay.addresses) {
      const c = await client(host);
      for (const size of [1, 1_472, MAX_UDP_PAYLOAD_BYTES]) {
        const sent = Buffer.alloc(size, size % 251);
        c.socket.send(sent, relay.port, host);
        expect((await c.next()).equals(sent)).toBe(true);
      }
    }
  });

  it('gives each client a session of its own: the server sees distinct peers, each reply goes to its asker', async () => {
    const server = await echoServer();
    const relay = await relayTo(bind, server.port);
    const [a, b] = [await client(), await client()];
    a.socket.send('from a', relay.port, '127.0.0.1');
    b.socket.send('from b', relay.port, '127.0.0.1');
    expect((await a.next()).toString()).toBe('from a');
    expect((await b.next()).toString()).toBe('from b');
    a.socket.send('a again', relay.port, '127.0.0.1');
    expect((await a.next()).toString()).toBe('a again');
    expect(new Set(server.peers).size).toBe(2);
    expect(server.peers[2]).toBe(server.peers[0]);
  });

  it('ends a session after the idle time: the next datagram comes from a new socket', async () => {
    const server = await echoServer();
    const relay = await relayTo(bind, server.port, 200);
    const c = await client();
    c.socket.send('one', relay.port, '127.0.0.1');
    await c.next();
    await new Promise((resolve) => setTimeout(resolve, 600));
    c.socket.send('two', relay.port, '127.0.0.1');
    await c.next();
    expect(server.peers[1]).not.toBe(server.peers[0]);
  });

  it('drops datagrams while the forward has no path, and answers again once it has', async () => {
    const server = await echoServer();
    let reachable = true;
    const relay = await bind({
      port: 0,
      target: () => (reachable ? { address: '127.0.0.1', port: server.port } : null),
    });
    expect(relay).not.toBeNull();
    opened.push(relay!);
    const c = await client();
    c.socket.send('first', relay!.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('first');
    reachable = false;
    await settle();
    c.socket.send('lost', relay!.port, '127.0.0.1');
    await expect(c.next()).rejects.toThrow(/no datagram/);
    expect(server.peers).toHaveLength(1);
    reachable = true;
    await settle();
    c.socket.send('found', relay!.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('found');
  });

  it("passes a client only its server's replies: a datagram from another socket to its session is dropped", async () => {
    const server = await echoServer();
    const relay = await relayTo(bind, server.port);
    const c = await client();
    c.socket.send('asked', relay.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('asked');
    const sessionPort = Number(server.peers[0]?.split(':')[1]);
    const stranger = await client();
    stranger.socket.send('not a reply', sessionPort, '127.0.0.1');
    server.socket.send('a reply', sessionPort, '127.0.0.1');
    expect((await c.next()).toString()).toBe('a reply');
  });

  it("opens a new session when the server's address changes", async () => {
    const [first, second] = [await echoServer(), await echoServer()];
    let serverPort = first.port;
    const relay = await bind({ port: 0, target: () => ({ address: '127.0.0.1', port: serverPort }) });
    opened.push(relay!);
    const c = await client();
    c.socket.send('to first', relay!.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('to first');
    serverPort = second.port;
    await settle();
    c.socket.send('to second', relay!.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('to second');
    expect(second.peers[0]).not.toBe(first.peers[0]);
  });

  it('keeps a session across a datagram refused while its server was away', async () => {
    const first = await echoServer();
    const relay = await relayTo(bind, first.port);
    const c = await client();
    c.socket.send('before', relay.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('before');
    await first.close();
    c.socket.send('refused', relay.port, '127.0.0.1');
    await expect(c.next()).rejects.toThrow(/no datagram/);
    const again = await echoServer(first.port);
    c.socket.send('after', relay.port, '127.0.0.1');
    expect((await c.next()).toString()).toBe('after');
    expect(again.peers).toEqual([first.peers[0]]);
  });

  it('returns null for a port taken by another UDP socket, and frees its port on close', async () => {
    const server = await echoServer();
    const target = () => ({ address: '127.0.0.1', port: server.port });
    expect(await bind({ port: server.port, target })).toBeNull();
    const relay = await relayTo(bind, server.port);
    await relay.close();
    const again = await bind({ port: relay.port, target });
    expect(again).not.toBeNull();
    await again!.close();
  });
});

describe('sessionIdleMs', () => {
  it('is 90 s unless PORTPILOT_UDP_IDLE_MS names a positive integer', () => {
    expect(sessionIdleMs({})).toBe(90_000);
    expect(sessionIdleMs({ PORTPILOT_UDP_IDLE_MS: '1500' })).toBe(1_500);
    for (const bad of ['0', '-5', 'abc', '1.5', ''])
      expect(sessionIdleMs({ PORTPILOT_UDP_IDLE_MS: bad })).toBe(90_000);
  });
});
