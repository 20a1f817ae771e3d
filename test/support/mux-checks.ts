import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { deterministicBytes, sha256, TEST_SERVER, waitFor } from './containers.js';
import { exchange } from './host-client.js';

/**
 * What the mux channel is checked with on an engine the host cannot route to: `engine` is the argv
 * that runs the container's CLI (`['docker']`, or the rootless user's `podman`), so the same checks
 * serve a remote engine and rootless Podman.
 */
export type EngineArgv = readonly string[];

/** Bytes each way for the large transfers. */
export const LARGE_BYTES = 50 * 1024 * 1024;

/** Runs `exec ARGS…` in the container through `engine`; rejects with its stderr; resolves to stdout. */
export async function execIn(
  engine: EngineArgv,
  containerId: string,
  args: readonly string[],
  input?: Uint8Array,
  flags: readonly string[] = [],
): Promise<string> {
  const [file = 'docker', ...prefix] = engine;
  const interactive = input === undefined ? [] : ['-i'];
  const result = await execa(file, [...prefix, 'exec', ...flags, ...interactive, containerId, ...args], {
    reject: false,
    cwd: '/',
    timeout: 120_000,
    ...(input === undefined ? {} : { input }),
  });
  if (result.exitCode !== 0) throw new Error(`exec ${args[0] ?? ''} failed: ${String(result.stderr)}`);
  return String(result.stdout);
}

/** Starts test-server.py's KIND on 127.0.0.1:port (or `address`) in the container (detached). */
export async function startLoopbackServer(
  engine: EngineArgv,
  containerId: string,
  kind: 'echo' | 'sink-sha256',
  port: number,
  address = '127.0.0.1',
): Promise<void> {
  await execIn(engine, containerId, ['python3', '-c', TEST_SERVER, kind, address, String(port)], undefined, [
    '-d',
  ]);
}

// argv: PORT FILE [ADDRESS]. On each connection: sends FILE, half-closes, reads to EOF, then writes the sha256
// hex of what it read to FILE.heard: what the client sent after the server's half-close.
export const FIRST_CLOSER = `
import hashlib, socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[3] if len(sys.argv) > 3 else '127.0.0.1', int(sys.argv[1])))
server.listen(64)
while True:
    conn, _ = server.accept()
    try:
        with open(sys.argv[2], 'rb') as data:
            conn.sendall(data.read())
        conn.shutdown(socket.SHUT_WR)
        digest = hashlib.sha256()
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
        with open(sys.argv[2] + '.heard', 'w') as out:
            out.write(digest.hexdigest())
    except OSError:
        pass
    conn.close()
`;

/** A server on 127.0.0.1 (or `address`) that sends `data` first and half-closes, then reads: see heardAfterClose. */
export async function startFirstCloser(
  engine: EngineArgv,
  containerId: string,
  port: number,
  data: Uint8Array,
  address = '127.0.0.1',
): Promise<{ heard(): Promise<string> }> {
  const file = `/tmp/portpilot-first-closer-${port}.bin`;
  await execIn(engine, containerId, ['sh', '-c', 'cat >"$0"', file], data);
  const argv = ['python3', '-c', FIRST_CLOSER, String(port), file, address];
  await execIn(engine, containerId, argv, undefined, ['-d']);
  return {
    heard: () =>
      waitFor(
        () => execIn(engine, containerId, ['cat', `${file}.heard`]).catch(() => null),
        15_000,
        `the server on ${port} to record what it read`,
      ),
  };
}

/**
 * Reads everything the server sends until its half-close, then sends `reply` and half-closes in
 * turn; resolves with what was read once the connection has closed without error.
 */
export function readThenReply(port: number, reply: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.setTimeout(60_000, () => socket.destroy(new Error(`no traffic on ${port} for 60 s`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end(reply));
    socket.on('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
  });
}

/**
 * `count` echo exchanges at once, each with bytes of its own: the ones that failed (reset, or bytes
 * altered), as messages.
 */
export async function concurrentEchoFailures(port: number, count: number, bytes: number): Promise<string[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: count }, async (_, i) => {
      const payload = deterministicBytes(bytes, `concurrent-${i}`);
      const back = await exchange(port, payload);
      if (sha256(back) !== sha256(payload)) throw new Error(`${back.length} of ${bytes} bytes, altered`);
    }),
  );
  return settled.flatMap((result, i) =>
    result.status === 'rejected' ? [`#${i}: ${String(result.reason)}`] : [],
  );
}

/** Pids (in the container) and command lines of its processes whose command line has `marker`. */
export async function processesIn(
  engine: EngineArgv,
  containerId: string,
  marker: string,
): Promise<{ pid: number; cmdline: string }[]> {
  const script =
    'for f in /proc/[0-9]*; do printf "%s " "${f#/proc/}"; tr "\\000" " " <"$f/cmdline"; echo; done';
  const out = await execIn(engine, containerId, ['sh', '-c', script]);
  return out
    .split('\n')
    .filter((line) => line.includes(marker) && !line.includes('/proc/[0-9]*'))
    .map((line) => ({
      pid: Number(line.slice(0, line.indexOf(' '))),
      cmdline: line.slice(line.indexOf(' ') + 1),
    }));
}

/** The container's mux agents. */
export function muxAgentsIn(engine: EngineArgv, containerId: string) {
  return processesIn(engine, containerId, 'portpilot mux agent');
}

/**
 * Starts reading `bytes` from the first-closer server on `port`, pauses after the first chunk, calls
 * `cut` (which kills the channel), then reads on: resolves with how the transfer ended and how many
 * bytes came, or rejects when it has not ended within `limitMs`.
 */
export function transferCut(
  port: number,
  cut: () => Promise<void>,
  limitMs: number,
): Promise<{ received: number; error: string | null }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let error: string | null = null;
    let cutting = false;
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the transfer on ${port} had not ended ${limitMs} ms after the cut (${received} bytes)`),
      );
    }, limitMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (cutting) return;
      cutting = true;
      socket.pause();
      cut().then(
        () => socket.resume(),
        (cutError: unknown) => {
          clearTimeout(timer);
          socket.destroy();
          reject(cutError instanceof Error ? cutError : new Error(String(cutError)));
        },
      );
    });
    socket.on('end', () => socket.end());
    socket.on('error', (cause) => (error = cause.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received, error });
    });
  });
}

/**
 * The host's processes whose command line names the container (an engine client's `exec`, an exec
 * session's conmon), this process's own children apart: what a forwarder could have left behind.
 */
export function hostProcessesNaming(containerId: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(containerId)) found.push(`${name}: ${cmdline.slice(0, 200)}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** A container the host cannot route to, its forwarder taking the mux channel to three loopback servers. */
export interface MuxCase {
  engine: EngineArgv;
  containerId: string;
  /** Host ports of the echo, sha256-sink and first-closer servers (startLoopbackServer, startFirstCloser). */
  echo: number;
  sink: number;
  first: number;
  firstCloser: { heard(): Promise<string> };
  /** What the first-closer server sends. */
  fromContainer: Uint8Array;
  /** Seeds the test data apart per engine. */
  label: string;
  /** The forwarder's log, for a failure's message. */
  notes(): string;
  /** The `path` of each of the container's rows in `ports --json`. */
  paths(): Promise<string[]>;
}

/**
 * The cases the channel passes on every engine: 50 MB each way byte-exact with a half-close each way,
 * 200 connections at once, and a channel killed mid-transfer. `current` gives the case once beforeAll ran.
 */
export function itCarriesConnectionsOverOneChannel(current: () => MuxCase): void {
  it('carries 50 MB each way byte-exact, passing a half-close on each way', async () => {
    const c = current();
    // Host to container: the sink digests what it read only once the client's half-close reaches it.
    const toContainer = deterministicBytes(LARGE_BYTES, `${c.label}-mux-in`);
    const digest = (await exchange(c.sink, toContainer)).toString('utf8').trim();
    expect(digest, c.notes()).toBe(sha256(toContainer));
    // Container to host: the server half-closes first, then still reads what the client sends.
    const reply = deterministicBytes(1024 * 1024, `${c.label}-mux-reply`);
    const read = await readThenReply(c.first, reply);
    expect(read.length, c.notes()).toBe(c.fromContainer.length);
    expect(sha256(read)).toBe(sha256(c.fromContainer));
    expect(await c.firstCloser.heard()).toBe(sha256(reply));
    expect(await muxAgentsIn(c.engine, c.containerId)).toHaveLength(1);
  });

  it('carries 200 concurrent connections, none reset, none altered', async () => {
    const c = current();
    expect(await concurrentEchoFailures(c.echo, 200, 64 * 1024), c.notes()).toEqual([]);
    expect(await muxAgentsIn(c.engine, c.containerId)).toHaveLength(1);
  });

  it('ends a transfer whose channel is killed, and carries the next connection on a new channel', async () => {
    const c = current();
    const [agent] = await muxAgentsIn(c.engine, c.containerId);
    expect(agent).toBeDefined();
    const cut = await transferCut(
      c.first,
      () => execIn(c.engine, c.containerId, ['kill', '-KILL', String(agent?.pid)]).then(() => undefined),
      45_000,
    );
    expect(cut.received).toBeLessThan(c.fromContainer.length);
    const payload = deterministicBytes(1024 * 1024, 'after-the-cut');
    const back = await waitFor(
      () => exchange(c.echo, payload).catch(() => null),
      20_000,
      'a connection after the cut',
    );
    expect(sha256(back), c.notes()).toBe(sha256(payload));
    const agents = await muxAgentsIn(c.engine, c.containerId);
    expect(agents).toHaveLength(1);
    expect(agents[0]?.pid).not.toBe(agent?.pid);
    expect(await c.paths()).toEqual(['mux', 'mux', 'mux']);
  });
}
