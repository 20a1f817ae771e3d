import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentInterpreter } from '../../src/forwarding/relay/agent/agent-protocol.js';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { MuxChannel } from '../../src/forwarding/relay/mux/mux-channel.js';
import {
  MUX_MAGIC,
  MuxDecoder,
  encodeFrame,
  type MuxFrame,
} from '../../src/forwarding/relay/mux/mux-codec.js';
import {
  MUX_REVERSE_FRAME_TYPES as R,
  encodeAccept,
} from '../../src/forwarding/relay/mux/mux-reverse-codec.js';
import { MuxReverse } from '../../src/forwarding/relay/mux/mux-reverse.js';
import { OnDemandMux } from '../../src/forwarding/relay/mux/mux-on-demand.js';
import { serveReversePortOverMux } from '../../src/forwarding/reverse-relay.js';
import { localRunner, type RunningProcess } from '../../src/runtime/process-runner.js';

// Here the agent runs as a local process: "the container's" loopback is this machine's, so the
// container ports and the host ports are free ports of the one loopback.

const MB = 1024 * 1024;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function bytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  probe.close();
  await once(probe, 'close');
  return port;
}

/** Connects to `port`, sends `input`, half-closes, resolves with all it received until the peer's EOF. */
function exchange(port: number, input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.on('connect', () => socket.end(input));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
  });
}

/** What connecting to `port` comes to: the error code, or 'open'. */
async function connectOutcome(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.write('x');
  const outcome = await Promise.race([
    once(socket, 'error').then(([error]) => (error as NodeJS.ErrnoException).code ?? 'error'),
    once(socket, 'data').then(() => 'open'),
  ]);
  socket.destroy();
  return outcome;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
}

/** The host's servers, and what they saw. */
const seen = { sizeHeard: -1, afterOwnEnd: -1, connections: 0 };
const servers: Server[] = [];
const fromHost = bytes(6 * MB, 7);
let hostEcho = 0;
let hostFirstCloser = 0;
let hostCounter = 0;

beforeAll(async () => {
  // Writes 6 MB at once, reads to the client's EOF, then answers with the sha256 of what it read.
  const echo = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.write(fromHost);
    const hash = createHash('sha256');
    socket.on('data', (chunk: Buffer) => hash.update(chunk));
    socket.on('end', () => socket.end(`\n${hash.digest('hex')}`));
  });
  // Says hello and half-closes at once, then counts what the client sends after that.
  const firstCloser = createServer({ allowHalfOpen: true }, (socket) => {
    let total = 0;
    socket.on('error', () => undefined);
    socket.end('hello\n');
    socket.on('data', (chunk: Buffer) => (total += chunk.length));
    socket.on('end', () => (seen.afterOwnEnd = total));
  });
  // Counts its connections: the one a port not named would have reached.
  const counter = createServer((socket) => {
    seen.connections += 1;
    socket.destroy();
  });
  servers.push(echo, firstCloser, counter);
  [hostEcho, hostFirstCloser, hostCounter] = await Promise.all(servers.map(listen));
});

afterAll(() => {
  for (const server of servers) server.close();
});

const logs: string[] = [];
const log = (message: string) => logs.push(message);

describe.each(['python3', 'perl'] as const)('reverse ports over the %s mux agent', (interpreter) => {
  let channel: MuxChannel;
  let reverse: MuxReverse;

  beforeAll(async () => {
    const [file = '', ...args] = muxAgentArgv(interpreter as AgentInterpreter);
    const started = await MuxChannel.start(localRunner.spawn(file, args), {
      where: `mux agent (${interpreter})`,
      log,
    });
    if (!started) throw new Error(`the ${interpreter} mux agent did not start: ${logs.join('; ')}`);
    channel = started;
    reverse = new MuxReverse({ hold: () => Promise.resolve(channel), where: 'this machine' });
  });

  afterAll(async () => {
    reverse.close();
    await channel.close();
  });

  it('relays a connection to the agent’s listener to the host port, byte-exact both ways (6 MB each), with the half-close', async () => {
    const containerPort = await freePort();
    const served = serveReversePortOverMux(reverse, { hostPort: hostEcho, containerPort });
    expect(await served.listening).toBeNull();
    const toHost = bytes(6 * MB, 11);
    const back = await exchange(containerPort, toHost);
    // The host's 6 MB came whole, and then its answer to the client's half-close: the sha of what it read.
    expect(back.length).toBe(fromHost.length + 65);
    expect(sha256(back.subarray(0, fromHost.length))).toBe(sha256(fromHost));
    expect(back.subarray(fromHost.length + 1).toString()).toBe(sha256(toHost));
    // Each stream the agent opened has an id of its own range, and is forgotten once closed.
    await waitUntil(() => channel.openStreams === 0);
    served.close();
  });

  it('passes the host server’s half-close first, and the client’s bytes after it', async () => {
    const containerPort = await freePort();
    const served = serveReversePortOverMux(reverse, { hostPort: hostFirstCloser, containerPort });
    expect(await served.listening).toBeNull();
    seen.afterOwnEnd = -1;
    const socket = connect({ host: '127.0.0.1', port: containerPort, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('hello\n');
    socket.end(bytes(300_000, 3));
    await once(socket, 'close');
    await waitUntil(() => seen.afterOwnEnd === 300_000);
    served.close();
  });

  it('resets the container’s connection at once when nothing listens on the host port', async () => {
    const containerPort = await freePort();
    const served = serveReversePortOverMux(reverse, { hostPort: await freePort(), containerPort });
    expect(await served.listening).toBeNull();
    const startedAt = Date.now();
    expect(await connectOutcome(containerPort)).toBe('ECONNRESET');
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(channel.alive).toBe(true);
    served.close();
  });

  it('listens on the named container ports only, and not at all once closed', async () => {
    const containerPort = await freePort();
    const unnamed = await freePort();
    const served = serveReversePortOverMux(reverse, { hostPort: hostEcho, containerPort });
    expect(await served.listening).toBeNull();
    expect(await connectOutcome(unnamed)).toBe('ECONNREFUSED');
    served.close();
    await waitUntil(async () => (await connectOutcome(containerPort)) === 'ECONNREFUSED');
  });

  it('says why it cannot listen on a port taken in the container', async () => {
    const taken = createServer();
    const port = await listen(taken);
    const served = serveReversePortOverMux(reverse, { hostPort: hostEcho, containerPort: port });
    expect(await served.listening).toMatch(/EADDRINUSE/);
    served.close();
    taken.close();
  });

  it('carries 20 connections at once', async () => {
    const containerPort = await freePort();
    const served = serveReversePortOverMux(reverse, { hostPort: hostEcho, containerPort });
    expect(await served.listening).toBeNull();
    const payloads = Array.from({ length: 20 }, (_, i) => bytes(50_000 + i, 20 + i));
    const backs = await Promise.all(payloads.map((payload) => exchange(containerPort, payload)));
    backs.forEach((back, i) =>
      expect(back.subarray(fromHost.length + 1).toString()).toBe(sha256(payloads[i] ?? Buffer.alloc(0))),
    );
    served.close();
  });
});

describe.each(['python3', 'perl'] as const)(
  'reverse ports over a %s mux channel that dies',
  (interpreter) => {
    it('listen again on the next channel', async () => {
      const started: RunningProcess[] = [];
      const mux = new OnDemandMux(
        async () => {
          const [file = '', ...args] = muxAgentArgv(interpreter as AgentInterpreter);
          const exec = localRunner.spawn(file, args);
          started.push(exec);
          return MuxChannel.start(exec, { where: `mux agent (${interpreter})`, log });
        },
        { idleMs: 60_000, retryMinMs: 50 },
      );
      const reverse = new MuxReverse({ hold: () => mux.hold(), where: 'this machine', retryMinMs: 50 });
      const containerPort = await freePort();
      const served = serveReversePortOverMux(reverse, { hostPort: hostEcho, containerPort });
      expect(await served.listening).toBeNull();
      started[0]?.terminate('SIGKILL');
      await waitUntil(() => started.length === 2 && mux.running);
      const toHost = bytes(100_000, 5);
      let back: Buffer | null = null;
      await waitUntil(async () => {
        back = await exchange(containerPort, toHost).catch(() => null);
        return back !== null;
      });
      expect((back as Buffer | null)?.subarray(fromHost.length + 1).toString()).toBe(sha256(toHost));
      served.close();
      reverse.close();
      await mux.close();
    });
  },
);

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe.each(['python3', 'perl'] as const)('a %s mux agent out of descriptors', (interpreter) => {
  it('resets the connections it cannot take, without spinning, and takes them again once some close', async () => {
    const [file = '', ...args] = muxAgentArgv(interpreter as AgentInterpreter);
    const exec = localRunner.spawn('prlimit', ['--nofile=16', '--', file, ...args]);
    const channel = await MuxChannel.start(exec, { where: `mux agent (${interpreter})`, log });
    if (!channel) throw new Error(`the ${interpreter} mux agent did not start: ${logs.join('; ')}`);
    const reverse = new MuxReverse({ hold: () => Promise.resolve(channel), where: 'this machine' });
    // Holds every connection open until told.
    const held: Socket[] = [];
    const holder = createServer((socket) => {
      socket.on('error', () => undefined);
      held.push(socket);
    });
    const containerPort = await freePort();
    const served = serveReversePortOverMux(reverse, { hostPort: await listen(holder), containerPort });
    expect(await served.listening).toBeNull();
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const socket = connect({ host: '127.0.0.1', port: containerPort });
        socket.on('error', () => undefined);
        const outcome = await Promise.race([
          new Promise<string>((resolve) => socket.once('close', () => resolve('reset'))),
          sleep(3_000).then(() => 'open'),
        ]);
        return { socket, outcome };
      }),
    );
    // Some were carried (held open by the host server), the rest reset: none left pending.
    expect(outcomes.filter((one) => one.outcome === 'reset').length).toBeGreaterThan(0);
    expect(held.length).toBe(outcomes.filter((one) => one.outcome === 'open').length);
    const before = cpuSeconds(exec.pid ?? 0);
    await sleep(1_000);
    expect(cpuSeconds(exec.pid ?? 0) - before).toBeLessThan(0.5);
    for (const { socket } of outcomes) socket.destroy();
    for (const socket of held.splice(0)) socket.destroy();
    await waitUntil(() => channel.openStreams === 0);
    const next = connect({ host: '127.0.0.1', port: containerPort });
    next.on('error', () => undefined);
    await waitUntil(() => held.length === 1);
    expect(channel.alive, logs.join('; ')).toBe(true);
    next.destroy();
    holder.close();
    served.close();
    reverse.close();
    await channel.close();
  });
});

/** An agent played by the test: what it is sent, and a way to send the host frames. */
function fakeAgent() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const received: MuxFrame[] = [];
  const decoder = new MuxDecoder((frame) => received.push({ ...frame, payload: Buffer.from(frame.payload) }));
  stdin.on('data', (chunk: Buffer) => decoder.push(chunk));
  let exit: (code: number) => void = () => undefined;
  const exec: RunningProcess = {
    pid: undefined,
    stdin,
    stdout,
    stderr: new PassThrough(),
    exited: new Promise((resolve) => (exit = resolve)),
    terminate: () => exit(137),
  };
  stdout.write(MUX_MAGIC);
  return { exec, received, say: (frame: Buffer) => stdout.write(frame) };
}

describe('the host side of reverse ports, to an agent that asks for more', () => {
  it('dials only the host port a listener was asked for: an unknown listener or a host-range stream id is refused', async () => {
    const agent = fakeAgent();
    const channel = await MuxChannel.start(agent.exec, { where: 'fake agent', log });
    if (!channel) throw new Error('the fake agent did not start');
    const reverse = new MuxReverse({ hold: () => Promise.resolve(channel), where: 'fake' });
    const listener = reverse.listen('127.0.0.1', 4000, '127.0.0.1', hostCounter);
    await waitUntil(() => agent.received.some((frame) => frame.type === R.LISTEN));
    const listenId = agent.received.find((frame) => frame.type === R.LISTEN)?.stream ?? 0;
    agent.say(encodeFrame(R.LISTEN_OK, listenId));
    await listener.listening;
    const before = seen.connections;
    // A listener never asked for, and a stream id of the host's range: refused, nothing dialled.
    agent.say(encodeFrame(R.ACCEPT, 0x8000_0001, encodeAccept(listenId + 100)));
    agent.say(encodeFrame(R.ACCEPT, 5, encodeAccept(listenId)));
    await waitUntil(() => agent.received.filter((frame) => frame.type === R.ACCEPT_FAIL).length === 2);
    expect(
      agent.received.filter((frame) => frame.type === R.ACCEPT_FAIL).map((frame) => frame.stream),
    ).toEqual([0x8000_0001, 5]);
    // The listener asked for: its host port is dialled.
    agent.say(encodeFrame(R.ACCEPT, 0x8000_0002, encodeAccept(listenId)));
    await waitUntil(() => seen.connections === before + 1);
    await sleep(200);
    expect(seen.connections).toBe(before + 1);
    listener.close();
    await waitUntil(() =>
      agent.received.some((frame) => frame.type === R.UNLISTEN && frame.stream === listenId),
    );
    reverse.close();
    await channel.close();
  });
});
