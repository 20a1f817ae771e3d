import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentInterpreter } from '../../src/forwarding/relay/agent/agent-protocol.js';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { MuxChannel } from '../../src/forwarding/relay/mux/mux-channel.js';
import { MUX_INITIAL_WINDOW_BYTES } from '../../src/forwarding/relay/mux/mux-codec.js';
import { OnDemandMux } from '../../src/forwarding/relay/mux/mux-on-demand.js';
import { localRunner, type RunningProcess } from '../../src/runtime/process-runner.js';

const MB = 1024 * 1024;
const PING_MS = 200;

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

/** Servers in "the container": here, on this machine's loopback, with what they saw. */
const seen = { resets: 0, halfCloseReceived: -1 };
const servers: Server[] = [];
let echoPort = 0;
let greetPort = 0;
let sourcePort = 0;
let resetPort = 0;
let sourceWritten = 0;

beforeAll(async () => {
  // Echoes everything, and half-closes when the client did.
  const echo = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => seen.resets++);
    socket.pipe(socket);
  });
  // Says hello and half-closes at once, then counts what the client sends until its EOF.
  const greet = createServer({ allowHalfOpen: true }, (socket) => {
    let total = 0;
    socket.end('hello\n');
    socket.on('data', (chunk: Buffer) => (total += chunk.length));
    socket.on('end', () => (seen.halfCloseReceived = total));
    socket.on('error', () => undefined);
  });
  // Writes without end for as long as the socket takes it.
  const source = createServer((socket) => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk)) sourceWritten += chunk.length;
      if (!socket.destroyed) sourceWritten += chunk.length;
    };
    socket.on('drain', pump);
    socket.on('error', () => undefined);
    pump();
  });
  // Resets every connection once it has read something.
  const resetter = createServer((socket) => {
    socket.once('data', () => socket.resetAndDestroy());
  });
  servers.push(echo, greet, source, resetter);
  [echoPort, greetPort, sourcePort, resetPort] = await Promise.all(servers.map(listen));
});

afterAll(() => {
  for (const server of servers) server.close();
});

/** A mux agent run as a local child process, as the container would run it. */
function spawnAgent(interpreter: AgentInterpreter): RunningProcess {
  const [file = '', ...args] = muxAgentArgv(interpreter);
  return localRunner.spawn(file, args);
}

interface Proxy {
  port: number;
  /** The host side's sockets, as the forwarder holds them. */
  accepted: Socket[];
  close(): void;
}

/** A host listener whose connections go through `relay` to `targetPort` "in the container". */
async function proxyTo(
  relay: (client: Socket, address: string, port: number) => Promise<{ finished: Promise<void> } | null>,
  targetPort: number,
): Promise<Proxy> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (client) => {
    accepted.push(client);
    client.on('error', () => undefined);
    relay(client, '127.0.0.1', targetPort).catch(() => client.resetAndDestroy());
  });
  const port = await listen(server);
  return { port, accepted, close: () => server.close() };
}

/** Sends `input`, half-closes, resolves with everything received until the peer's EOF. */
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

function rssKb(pid: number): number {
  const line = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? NaN);
}

const logs: string[] = [];
const log = (message: string) => logs.push(message);

describe.each(['python3', 'perl'] as const)('the %s mux agent', (interpreter) => {
  let exec: RunningProcess;
  let channel: MuxChannel;
  const proxies: Proxy[] = [];
  const proxy = async (port: number) => {
    const made = await proxyTo((client, address, target) => channel.relay(client, address, target), port);
    proxies.push(made);
    return made;
  };

  beforeAll(async () => {
    exec = spawnAgent(interpreter);
    const started = await MuxChannel.start(exec, { where: `mux agent (${interpreter})`, log });
    if (!started) throw new Error(`the ${interpreter} mux agent did not start: ${logs.join('; ')}`);
    channel = started;
  });

  afterAll(async () => {
    for (const made of proxies) made.close();
    await channel.close();
  });

  it('carries 20 MB each way byte-exact, and the half-close that ends it', async () => {
    const { port } = await proxy(echoPort);
    const payload = bytes(20 * MB, 1);
    const back = await exchange(port, payload);
    expect(back.length).toBe(payload.length);
    expect(sha256(back)).toBe(sha256(payload));
  });

  it('passes a half-close on each way: the server’s first, then the client’s', async () => {
    const { port } = await proxy(greetPort);
    seen.halfCloseReceived = -1;
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server's EOF arrives while the client can still send.
    await once(socket, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('hello\n');
    socket.end(bytes(300_000, 2));
    await once(socket, 'close');
    await waitUntil(() => seen.halfCloseReceived === 300_000);
  });

  it('passes a reset on, each way', async () => {
    // The server resets: the client sees ECONNRESET.
    const resetting = await proxy(resetPort);
    const client = connect({ host: '127.0.0.1', port: resetting.port });
    client.write('x');
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
    // The client resets: the server's socket gets the reset.
    const echoing = await proxy(echoPort);
    const before = seen.resets;
    const other = connect({ host: '127.0.0.1', port: echoing.port });
    other.write('ping');
    await once(other, 'data');
    other.resetAndDestroy();
    await waitUntil(() => seen.resets > before);
    await waitUntil(() => channel.openStreams === 0);
  });

  it('moves 10 MB on one stream while another stream’s reader stalls, buffering a window of it', async () => {
    const stalled = await proxy(sourcePort);
    const reader = connect({ host: '127.0.0.1', port: stalled.port });
    reader.pause();
    await once(reader, 'connect');
    sourceWritten = 0;
    const rssBefore = rssKb(exec.pid ?? 0);
    await sleep(500);
    const echoing = await proxy(echoPort);
    const payload = bytes(10 * MB, 3);
    const back = await exchange(echoing.port, payload);
    expect(sha256(back)).toBe(sha256(payload));
    await sleep(500);
    // The stalled stream took no more than a window beyond what sockets buffer in the kernel
    // (loopback's autotuned buffers reach a few MB each), however long the source writes.
    const written = sourceWritten;
    await sleep(1_000);
    expect(sourceWritten - written).toBeLessThan(MB);
    expect(sourceWritten).toBeLessThan(40 * MB);
    const hostSide = stalled.accepted[0];
    expect(hostSide?.writableLength ?? 0).toBeLessThanOrEqual(MUX_INITIAL_WINDOW_BYTES);
    expect(rssKb(exec.pid ?? 0) - rssBefore).toBeLessThan(16 * 1024);
    reader.destroy();
    await waitUntil(() => channel.openStreams === 0);
  });

  it('refuses a connection to a port nobody listens on, as a reset, and goes on', async () => {
    const gone = createServer();
    const closed = await listen(gone);
    gone.close();
    const refused = await proxy(closed);
    await expect(exchange(refused.port, Buffer.from('x'))).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(channel.alive).toBe(true);
  });

  it('carries 30 connections at once on the one process', async () => {
    const { port } = await proxy(echoPort);
    const payloads = Array.from({ length: 30 }, (_, i) => bytes(100_000 + i, 10 + i));
    const backs = await Promise.all(payloads.map((payload) => exchange(port, payload)));
    backs.forEach((back, i) => expect(sha256(back)).toBe(sha256(payloads[i] ?? Buffer.alloc(0))));
  });
});

describe.each(['python3', 'perl'] as const)('a %s mux channel that dies', (interpreter) => {
  const started: RunningProcess[] = [];
  const start = async () => {
    const exec = spawnAgent(interpreter);
    started.push(exec);
    return MuxChannel.start(exec, { where: `mux agent (${interpreter})`, log, pingIntervalMs: PING_MS });
  };
  afterEach(() => {
    for (const exec of started.splice(0)) {
      exec.terminate('SIGCONT');
      exec.terminate('SIGKILL');
    }
  });

  it('is seen dead by its keepalive when the agent hangs: its clients are reset, the next connection starts another', async () => {
    const mux = new OnDemandMux(start, { idleMs: 60_000 });
    const { port } = await proxyTo((client, address, target) => mux.relay(client, address, target), echoPort);
    const client = connect({ host: '127.0.0.1', port });
    client.write('before');
    await once(client, 'data');
    const hung = started[0];
    process.kill(hung?.pid ?? 0, 'SIGSTOP');
    const stoppedAt = Date.now();
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
    // Three pings unanswered, and the fourth finds it so.
    expect(Date.now() - stoppedAt).toBeLessThan(PING_MS * 4 + 2_000);
    expect(mux.running).toBe(false);
    const back = await exchange(port, Buffer.from('after'));
    expect(back.toString()).toBe('after');
    expect(started).toHaveLength(2);
    await mux.close();
  });

  it('is seen dead when the agent is killed', async () => {
    const mux = new OnDemandMux(start, { idleMs: 60_000 });
    const { port } = await proxyTo((client, address, target) => mux.relay(client, address, target), echoPort);
    const client = connect({ host: '127.0.0.1', port });
    client.write('before');
    await once(client, 'data');
    started[0]?.terminate('SIGKILL');
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
    expect((await exchange(port, Buffer.from('again'))).toString()).toBe('again');
    await mux.close();
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
}
