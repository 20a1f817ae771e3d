import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { HELLO_FILE_PATH } from './images.js';

/** The docker CLI the test containers and servers are driven with (override with PORTPILOT_TEST_DOCKER). */
export const DOCKER_COMMAND = process.env.PORTPILOT_TEST_DOCKER ?? 'docker';
/** The label every test container carries, so that clean-up finds them all. */
export const TEST_CONTAINER_LABEL = 'portpilot.test=1';
/** The label key naming the test run (vitest process tree) that started a container. */
export const TEST_RUN_LABEL_KEY = 'portpilot.test.run';
/** This test run's id: set by the global setup for the whole run, else this process's pid. */
export const TEST_RUN_ID = process.env.PORTPILOT_TEST_RUN_ID ?? String(process.pid);
/** The line a `greeting` server writes on every accepted connection, before echoing. */
export const GREETING_LINE = 'hello from the portpilot greeting server\n';
/** How many bytes a `source` server sends per connection unless told otherwise. */
export const DEFAULT_SOURCE_BYTES = 1024 * 1024;

const SERVER_READY_TIMEOUT_MS = 15_000;
const SERVER_STOP_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 50;
const TCP_LISTEN_STATE = '0A';
const TCP_TIME_WAIT = '06';
// PID 1 of every test container: exits at once on SIGTERM, so `docker stop` and `rm -f` are quick.
const KEEP_ALIVE_SCRIPT = 'trap "exit 0" TERM; while sleep 1 & wait $!; do :; done';

/** A test container: full 64-hex id and name. */
export interface TestContainer {
  readonly id: string;
  readonly name: string;
}

/** Extras for startContainer. */
export interface StartContainerOptions {
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Whether ::1 exists in the container (default true). Docker 20.10 without daemon IPv6 disables
   * IPv6 in every container, leaving only 127.0.0.1; the tests need ::1 listeners too.
   */
  readonly ipv6Loopback?: boolean;
  /** More `docker run` arguments, placed before the image (e.g. `['--network', 'none']`). */
  readonly runArgs?: readonly string[];
}

/** What a test server does with each connection (see startServer). */
export type ServerKind = 'http' | 'echo' | 'greeting' | 'sink-sha256' | 'source' | 'session';

/** The addresses a test server can listen on inside the container. */
export type ServerAddress = '127.0.0.1' | '::1' | '0.0.0.0' | '::';

/** Which server to start, where. */
export interface ServerOptions {
  readonly port: number;
  readonly address: ServerAddress;
  readonly kind: ServerKind;
  /** `source` only: bytes sent per connection (default DEFAULT_SOURCE_BYTES). */
  readonly sourceBytes?: number;
  /** `source` only: seed of the deterministic bytes (default 'portpilot'). */
  readonly sourceSeed?: string;
  /**
   * Address '::' only, python3 only: an IPv6-only socket (IPV6_V6ONLY, as nginx's `listen [::]:80;`)
   * instead of a dual-stack one. /proc/net/tcp6 shows the two alike.
   */
  readonly v6Only?: boolean;
}

/** A running test server; stop() kills it and resolves once the port no longer listens. */
export interface ServerHandle {
  readonly containerId: string;
  readonly kind: ServerKind;
  readonly address: ServerAddress;
  readonly port: number;
  /** `source` only: the sha256 hex of the bytes every connection receives, else null. */
  readonly sourceSha256: string | null;
  /** `source` only: how many bytes every connection receives, else 0. */
  readonly sourceBytes: number;
  stop(): Promise<void>;
}

/** Hex sha256 of some bytes. */
export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `size` pseudo-random bytes that depend only on `seed` (sha256 in counter mode). */
export function deterministicBytes(size: number, seed = 'portpilot'): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0, length = 0; length < size; counter++, length += 32) {
    blocks.push(createHash('sha256').update(`${seed}:${counter}`).digest());
  }
  return Buffer.concat(blocks).subarray(0, size);
}

/** Polls `probe` until it returns a truthy value (which it resolves to); rejects after timeoutMs. */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  timeoutMs: number,
  description = 'a condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`, { cause: lastError });
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

function canListen(host: string, port: number): Promise<boolean | 'unsupported'> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'EADDRINUSE' ? false : 'unsupported'),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A TCP port free right now on the host's 127.0.0.1 and (where the host has IPv6) ::1. */
// Ports handed out in this test process: the kernel may give the same free port to two calls in a
// row, and one test that asks twice must get two different ports.
const handedOut = new Set<number>();

export async function freeHostPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port <= 0 || handedOut.has(port)) continue;
    if ((await canListen('::1', port)) !== false) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('found no port free on both 127.0.0.1 and ::1 in 50 tries');
}

function docker(args: readonly string[], options: { input?: Uint8Array } = {}) {
  return execa(DOCKER_COMMAND, args, { input: options.input, encoding: 'buffer', stripFinalNewline: false });
}

async function dockerText(args: readonly string[]): Promise<string> {
  const result = await execa(DOCKER_COMMAND, args);
  return result.stdout.trim();
}

let containerCounter = 0;

/** Starts a detached, labelled container of `image` whose PID 1 idles until SIGTERM. */
export async function startContainer(
  image: string,
  opts: StartContainerOptions = {},
): Promise<TestContainer> {
  const name =
    opts.name ?? `portpilot-test-${TEST_RUN_ID}-${++containerCounter}-${randomBytes(3).toString('hex')}`;
  const args = ['run', '--detach', '--name', name, '--label', TEST_CONTAINER_LABEL];
  args.push('--label', `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`);
  for (const [key, value] of Object.entries(opts.labels ?? {})) args.push('--label', `${key}=${value}`);
  for (const [key, value] of Object.entries(opts.env ?? {})) args.push('--env', `${key}=${value}`);
  // Docker refuses net.* sysctls for a container that shares the host's network namespace.
  const hostNetwork = (opts.runArgs ?? []).join(' ').match(/--net(work)?[= ]host\b/);
  if ((opts.ipv6Loopback ?? true) && !hostNetwork) args.push('--sysctl', 'net.ipv6.conf.lo.disable_ipv6=0');
  args.push(...(opts.runArgs ?? []), image, 'sh', '-c', KEEP_ALIVE_SCRIPT);
  const id = await dockerText(args);
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`docker run ${image} printed "${id}", not a container id`);
  return { id, name };
}

/** Force-removes one container (and its anonymous volumes); a missing one is not an error. */
export async function removeContainer(idOrName: string): Promise<void> {
  const result = await execa(DOCKER_COMMAND, ['rm', '--force', '--volumes', idOrName], { reject: false });
  if (result.exitCode !== 0 && !/No such container/i.test(result.stderr)) {
    throw new Error(`docker rm ${idOrName} failed: ${result.stderr}`);
  }
}

async function removeContainersLabelled(label: string): Promise<void> {
  const ids = (await dockerText(['ps', '--all', '--quiet', '--filter', `label=${label}`]))
    .split('\n')
    .filter(Boolean);
  await Promise.all(ids.map((id) => removeContainer(id)));
}

/** Removes every test container on this engine, whichever run started it. */
export function removeAllTestContainers(): Promise<void> {
  return removeContainersLabelled(TEST_CONTAINER_LABEL);
}

/** Removes the test containers started by this test run only (other runs may share the engine). */
export function removeThisRunsTestContainers(): Promise<void> {
  return removeContainersLabelled(`${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`);
}

// /proc/net/tcp{,6} spell addresses as the raw in-memory words, hence the odd byte order.
const PROC_NET_ADDRESS: Record<ServerAddress, { file: 'tcp' | 'tcp6'; hex: string }> = {
  '127.0.0.1': { file: 'tcp', hex: '0100007F' },
  '0.0.0.0': { file: 'tcp', hex: '00000000' },
  '::1': { file: 'tcp6', hex: '00000000000000000000000001000000' },
  '::': { file: 'tcp6', hex: '00000000000000000000000000000000' },
};

const initPids = new Map<string, number>();

async function readProcNet(containerId: string, file: 'tcp' | 'tcp6'): Promise<string> {
  // The container's init process shares its network namespace: reading its /proc entry from the
  // host costs no `docker exec`. Fall back to exec where that is not possible.
  let pid = initPids.get(containerId);
  if (pid === undefined) {
    pid = Number(await dockerText(['inspect', '--format', '{{.State.Pid}}', containerId]));
    initPids.set(containerId, pid);
  }
  try {
    return await readFile(`/proc/${pid}/net/${file}`, 'utf8');
  } catch {
    initPids.delete(containerId);
    const result = await execa(DOCKER_COMMAND, ['exec', containerId, 'cat', `/proc/net/${file}`], {
      reject: false,
    });
    return result.stdout;
  }
}

/**
 * How many connections a server in the container still holds on this TCP port: its accepted
 * sockets that it has not closed yet (any state but listening and TIME_WAIT, which is closed).
 */
export async function serverConnectionsInContainer(containerId: string, port: number): Promise<number> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const text = (await readProcNet(containerId, 'tcp')) + (await readProcNet(containerId, 'tcp6'));
  return text.split('\n').filter((line) => {
    const fields = line.trim().split(/\s+/);
    return (
      fields[1]?.endsWith(local) === true && fields[3] !== TCP_LISTEN_STATE && fields[3] !== TCP_TIME_WAIT
    );
  }).length;
}

/** Whether something in the container listens on exactly this address and TCP port. */
export async function isListeningInContainer(
  containerId: string,
  address: ServerAddress,
  port: number,
): Promise<boolean> {
  const { file, hex } = PROC_NET_ADDRESS[address];
  const wanted = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const text = await readProcNet(containerId, file);
  return text.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[1] === wanted && fields[3] === TCP_LISTEN_STATE;
  });
}

type Tools = ReadonlySet<'python3' | 'nc' | 'httpd' | 'wget'>;
const toolsByContainer = new Map<string, Promise<Tools>>();

function containerTools(containerId: string): Promise<Tools> {
  let tools = toolsByContainer.get(containerId);
  if (!tools) {
    const probe =
      'for t in python3 nc httpd wget; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done; true';
    tools = dockerText(['exec', containerId, 'sh', '-c', probe]).then(
      (out) => new Set(out.split('\n').filter(Boolean)) as Tools,
    );
    toolsByContainer.set(containerId, tools);
  }
  return tools;
}

/**
 * Takes programs off a running container's PATH (deletes what `command -v` finds): servers already
 * running keep running, and the image is unchanged. Gives an image with fewer relay programs than
 * any test image has, bash alone say.
 */
export async function removeProgramsInContainer(
  containerId: string,
  programs: readonly string[],
): Promise<void> {
  const script =
    'for p in "$@"; do for i in 1 2 3 4; do hash -r; path=$(command -v "$p") || break; rm -f "$path"; done; ' +
    'if command -v "$p" >/dev/null 2>&1; then echo "$p is still on PATH" >&2; exit 1; fi; done';
  await dockerText(['exec', containerId, 'sh', '-c', script, 'sh', ...programs]);
  toolsByContainer.delete(containerId);
}

/** The program of the servers python3 runs (the bench's too), sent with `python3 -c`: see the file for its modes. */
export const TEST_SERVER = readFileSync(new URL('./servers/test-server.py', import.meta.url), 'utf8');

// argv: HOST PORT. Sends stdin, half-closes, prints everything the server sends until it closes.
const PYTHON_CLIENT = `
import socket, sys
data = sys.stdin.buffer.read()
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
conn.sendall(data)
conn.shutdown(socket.SHUT_WR)
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
sys.stdout.buffer.flush()
`;

function serverCommand(tools: Tools, opts: ServerOptions, dataFile: string): string[] {
  const { kind, address } = opts;
  const port = String(opts.port);
  if (opts.v6Only && (address !== '::' || !tools.has('python3'))) {
    throw new Error(`an IPv6-only test server needs address '::' (not ${address}) and python3`);
  }
  if (tools.has('python3')) {
    if (kind === 'http') {
      const dir = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
      if (opts.v6Only) return ['python3', '-c', TEST_SERVER, '--v6only', 'files', address, port, dir];
      return ['python3', '-m', 'http.server', '--bind', address, '--directory', dir, port];
    }
    const sourceBytes = String(opts.sourceBytes ?? DEFAULT_SOURCE_BYTES);
    const args = kind === 'greeting' ? [GREETING_LINE] : kind === 'source' ? [sourceBytes, dataFile] : [];
    const v6Only = opts.v6Only ? ['--v6only'] : [];
    return ['python3', '-c', TEST_SERVER, ...v6Only, kind, address, port, ...args];
  }
  if (kind === 'http' && tools.has('httpd')) {
    const host = address.includes(':') ? `[${address}]` : address;
    return [
      'httpd',
      '-f',
      '-p',
      `${host}:${port}`,
      '-h',
      HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/')),
    ];
  }
  if (!tools.has('nc')) {
    throw new Error(`a ${kind} test server needs python3 or nc in the container, which has neither`);
  }
  // Busybox nc has no bind-address option: it listens on the dual-stack wildcard only.
  if (address !== '::') {
    throw new Error(
      `busybox nc can only listen on '::' (dual-stack), not ${address}: use '::' or a python3 image`,
    );
  }
  const listen = ['nc', '-ll', '-p', port, '-e'];
  switch (kind) {
    case 'echo':
      return [...listen, 'cat'];
    case 'greeting':
      return [...listen, 'sh', '-c', 'printf "%s" "$0"; exec cat', GREETING_LINE];
    case 'sink-sha256':
      return [...listen, 'sh', '-c', 'sha256sum | { read -r hash _; echo "$hash"; }'];
    case 'source':
      return [...listen, 'cat', dataFile];
    default:
      throw new Error(`no busybox recipe for a ${kind} test server`);
  }
}

/**
 * Starts a test server in the container with `docker exec -d` and waits until it listens.
 * http: serves HELLO_FILE_PATH; echo: echoes bytes; greeting: GREETING_LINE, then echoes;
 * session (python3 only): accepts one connection, closes its listener, echoes on it until its EOF;
 * sink-sha256: reads to EOF, answers the sha256 hex and a newline, closes; source: sends
 * `sourceBytes` deterministic bytes (sha256 in the handle), half-closes. Python3 where the image
 * has it, else busybox httpd / nc (nc: address '::' only).
 */
export async function startServer(containerId: string, opts: ServerOptions): Promise<ServerHandle> {
  const base = `/tmp/portpilot-server-${opts.port}-${randomBytes(4).toString('hex')}`;
  const pidFile = `${base}.pid`;
  let sourceSha256: string | null = null;
  let sourceBytes = 0;
  if (opts.kind === 'source') {
    const data = deterministicBytes(opts.sourceBytes ?? DEFAULT_SOURCE_BYTES, opts.sourceSeed);
    await docker(['exec', '-i', containerId, 'sh', '-c', 'cat >"$0"', `${base}.bin`], { input: data });
    sourceSha256 = sha256(data);
    sourceBytes = data.length;
  }
  const command = serverCommand(await containerTools(containerId), opts, `${base}.bin`);
  // $0 is the pid file: record the pid, then become the server with its output in a log beside it.
  const wrapper = 'echo $$ >"$0"; exec "$@" >"$0.log" 2>&1';
  await dockerText(['exec', '--detach', containerId, 'sh', '-c', wrapper, pidFile, ...command]);
  const where = `${opts.kind} server on [${opts.address}]:${opts.port} in container ${containerId.slice(0, 12)}`;
  try {
    await waitFor(
      () => isListeningInContainer(containerId, opts.address, opts.port),
      SERVER_READY_TIMEOUT_MS,
      where,
    );
  } catch (error) {
    const log = await execa(DOCKER_COMMAND, ['exec', containerId, 'cat', `${pidFile}.log`], {
      reject: false,
    });
    throw new Error(`${where} never listened; its log: ${log.stdout || log.stderr || '(empty)'}`, {
      cause: error,
    });
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopServer(containerId, pidFile, opts, where));
  return {
    containerId,
    kind: opts.kind,
    address: opts.address,
    port: opts.port,
    sourceSha256,
    sourceBytes,
    stop,
  };
}

async function stopServer(containerId: string, pidFile: string, opts: ServerOptions, where: string) {
  const notListening = async () => !(await isListeningInContainer(containerId, opts.address, opts.port));
  for (const signal of ['TERM', 'KILL']) {
    await execa(DOCKER_COMMAND, ['exec', containerId, 'sh', '-c', `kill -${signal} "$(cat "$0")"`, pidFile], {
      reject: false,
    });
    try {
      await waitFor(notListening, SERVER_STOP_TIMEOUT_MS / 2, `${where} to stop listening`);
      return;
    } catch (error) {
      if (signal === 'KILL') throw error;
    }
  }
}

/** The loopback address a client in the container uses to reach a server bound to `address`. */
export function loopbackFor(address: ServerAddress): '127.0.0.1' | '::1' {
  return address === '0.0.0.0' || address === '127.0.0.1' ? '127.0.0.1' : '::1';
}

/**
 * Connects from INSIDE the container (python3, else nc), sends `input`, half-closes, and resolves
 * to every byte the server sent until it closed.
 */
export async function connectInContainer(
  containerId: string,
  host: string,
  port: number,
  input: Uint8Array = new Uint8Array(),
): Promise<Buffer> {
  const tools = await containerTools(containerId);
  const command = tools.has('python3')
    ? ['python3', '-c', PYTHON_CLIENT, host, String(port)]
    : tools.has('nc')
      ? ['nc', host, String(port)]
      : undefined;
  if (!command)
    throw new Error(`container ${containerId.slice(0, 12)} has neither python3 nor nc to connect with`);
  const result = await docker(['exec', '-i', containerId, ...command], { input });
  return Buffer.from(result.stdout);
}

/** GETs an http URL from INSIDE the container (python3, else busybox wget); resolves to the body. */
export async function fetchInContainer(containerId: string, url: string): Promise<Buffer> {
  const tools = await containerTools(containerId);
  const python =
    'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=60).read())';
  const command = tools.has('python3') ? ['python3', '-c', python, url] : ['wget', '-q', '-O', '-', url];
  const result = await docker(['exec', containerId, ...command]);
  return Buffer.from(result.stdout);
}

/** The sink, source and echo servers the transfer tests use, on free ports, bound to `address`. */
export interface TransferServers {
  ports: { sink: number; source: number; echo: number };
  /** The sha256 of what the source server sends. */
  sourceSha: string;
}

/** Starts a sha256 sink, a `sourceBytes` source and an echo server in the container, bound to `address`. */
export async function startTransferServers(
  containerId: string,
  address: ServerAddress,
  sourceBytes: number,
): Promise<TransferServers> {
  const ports = { sink: await freeHostPort(), source: await freeHostPort(), echo: await freeHostPort() };
  await startServer(containerId, { port: ports.sink, address, kind: 'sink-sha256' });
  const source = await startServer(containerId, { port: ports.source, address, kind: 'source', sourceBytes });
  await startServer(containerId, { port: ports.echo, address, kind: 'echo' });
  return { ports, sourceSha: source.sourceSha256 ?? '' };
}
