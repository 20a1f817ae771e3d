import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { basename } from 'node:path';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { ForwarderError } from '../../src/common/errors.js';
import { OnDemandAgent } from '../../src/forwarding/relay/agent/agent-on-demand.js';
import { findHostAddress, startRelayAgent } from '../../src/forwarding/relay/agent/agent-process.js';
import { bindHostListener, type HostListener } from '../../src/forwarding/host/host-listener.js';
import { BASH_DRAIN_S, relayArgv, type RelayProgram } from '../../src/forwarding/relay/exec/exec-relay.js';
import { probeRelayProgram } from '../../src/forwarding/relay/exec/program-probe.js';
import { relayConnection, type RelayTarget } from '../../src/forwarding/relay/relay-connection.js';
import { Docker } from '../../src/runtime/docker.js';
import { localRunner } from '../../src/runtime/process-runner.js';
import {
  DOCKER_COMMAND,
  removeContainer,
  removeProgramsInContainer,
  serverConnectionsInContainer,
  sha256,
  startContainer,
  startServer,
  waitFor,
  type ServerAddress,
  type ServerHandle,
  type TestContainer,
} from '../support/containers.js';
import {
  BASH_ONLY_IMAGE,
  BUSYBOX_NC_IMAGE,
  DEBIAN_IMAGE,
  HELLO_FILE_PATH,
  HELLO_FILE_TEXT,
  NONE_IMAGE,
  PYTHON_IMAGE,
} from '../support/images.js';

const BIG_BYTES = 50 * 1024 * 1024;
// What a `source` server sends on connect; copied into each container first, so kept smaller.
const SOURCE_BYTES = 8 * 1024 * 1024;
const SETUP_TIMEOUT_MS = 600_000;
const CONCURRENT_CONNECTIONS = 50;
const CONCURRENT_BYTES = 64 * 1024;
const CLEANUP_TIMEOUT_MS = 15_000;
// How long a relay that cannot pass the server's EOF on is watched to show that it does not.
const NO_EOF_WATCH_MS = 1_500;
const PORTS = { echo: 7101, sink: 7102, source: 7103, http: 7104, echo6: 7105 } as const;

const docker = new Docker(localRunner, DOCKER_COMMAND);

interface ImageSetup {
  image: string;
  /** Busybox nc cannot listen on one address: its servers take the dual-stack wildcard. */
  serverAddress: ServerAddress;
  container?: TestContainer;
  servers: ServerHandle[];
}

const images: Record<'debian' | 'busybox' | 'bash' | 'python', ImageSetup> = {
  debian: { image: DEBIAN_IMAGE, serverAddress: '127.0.0.1', servers: [] },
  busybox: { image: BUSYBOX_NC_IMAGE, serverAddress: '::', servers: [] },
  bash: { image: BASH_ONLY_IMAGE, serverAddress: '127.0.0.1', servers: [] },
  python: { image: PYTHON_IMAGE, serverAddress: '127.0.0.1', servers: [] },
};

interface RelayCase {
  name: string;
  program: RelayProgram;
  setup: ImageSetup;
  /** The client's half-close reaches the server while the reply still comes back. */
  clientHalfClose: boolean;
  /** The server's close reaches a client that has not closed its own side. */
  serverCloseFirst: boolean;
  /** What shows the relay's process in the container's /proc/PID/cmdline (args joined by spaces). */
  processPattern: RegExp;
}

const CASES: RelayCase[] = [
  {
    name: 'socat',
    program: { kind: 'socat' },
    setup: images.debian,
    clientHalfClose: true,
    serverCloseFirst: true,
    processPattern: /^socat /,
  },
  {
    name: 'nc (OpenBSD)',
    program: { kind: 'nc', flavor: 'openbsd' },
    setup: images.debian,
    clientHalfClose: true,
    // OpenBSD nc keeps going after the server's EOF until its stdin ends too.
    serverCloseFirst: false,
    processPattern: /^nc -N /,
  },
  {
    name: 'nc (busybox)',
    program: { kind: 'nc', flavor: 'busybox' },
    setup: images.busybox,
    clientHalfClose: true,
    serverCloseFirst: true,
    processPattern: /^nc (127\.0\.0\.1|::1) /,
  },
  {
    name: 'bash',
    program: { kind: 'bash' },
    setup: images.bash,
    // bash cannot shutdown(SHUT_WR): the server never sees the client's EOF.
    clientHalfClose: false,
    serverCloseFirst: true,
    processPattern: new RegExp(`^(bash -c |cat$|sleep ${BASH_DRAIN_S}$)`),
  },
  {
    name: 'python3',
    program: { kind: 'python3' },
    setup: images.python,
    clientHalfClose: true,
    serverCloseFirst: true,
    processPattern: /^python3 -I -S -c /,
  },
  {
    name: 'perl',
    program: { kind: 'perl' },
    setup: images.python,
    clientHalfClose: true,
    serverCloseFirst: true,
    processPattern: /^perl -e /,
  },
];

const listeners: HostListener[] = [];
const sockets: Socket[] = [];
const pendingRelays: Promise<void>[] = [];
const HTTP_PATH = `/${basename(HELLO_FILE_PATH)}`;

beforeAll(async () => {
  await Promise.all(
    Object.values(images).map(async (setup) => {
      const container = await startContainer(setup.image);
      setup.container = container;
      const address = setup.serverAddress;
      setup.servers = await Promise.all([
        startServer(container.id, { kind: 'echo', address, port: PORTS.echo }),
        startServer(container.id, { kind: 'sink-sha256', address, port: PORTS.sink }),
        startServer(container.id, { kind: 'source', address, port: PORTS.source, sourceBytes: SOURCE_BYTES }),
        startServer(container.id, { kind: 'http', address, port: PORTS.http }),
        startServer(container.id, {
          kind: 'echo',
          address: address === '::' ? '::' : '::1',
          port: PORTS.echo6,
        }),
      ]);
    }),
  );
}, SETUP_TIMEOUT_MS);

// A failed test must not leave connections behind for the next one's leak checks to trip over.
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(pendingRelays.splice(0));
});

afterAll(async () => {
  await Promise.all(listeners.map((listener) => listener.close()));
  await Promise.all(
    Object.values(images).map((setup) => (setup.container ? removeContainer(setup.container.id) : undefined)),
  );
});

/** A host listener whose connections are relayed to `target`; `relays` holds their promises. */
async function forward(target: RelayTarget, errors: string[] = []) {
  const relays: Promise<void>[] = [];
  const listener = await bindHostListener(0, (socket) => {
    const relay = relayConnection(socket, target, { docker, log: (message) => errors.push(message) });
    relays.push(relay);
    pendingRelays.push(relay);
  });
  if (!listener) throw new Error('could not bind a host port for the test');
  listeners.push(listener);
  return { port: listener.port, relays, errors, listener };
}

function execTarget(relay: RelayCase, address: string, port: number): RelayTarget {
  const containerId = relay.setup.container?.id;
  if (!containerId) throw new Error(`no container for ${relay.name}`);
  return { path: 'exec', containerId, argv: relayArgv(relay.program, address, port) };
}

async function open(port: number, host = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ host, port, allowHalfOpen: true });
  sockets.push(socket);
  await once(socket, 'connect');
  return socket;
}

/** Resolves when the socket has closed, whether or not an error (a reset, say) came first. */
function closed(socket: Socket): Promise<void> {
  socket.on('error', () => {});
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Collects what a socket receives; `ended` resolves at its EOF. */
function collect(socket: Socket) {
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  const ended = once(socket, 'end').then(() => Buffer.concat(chunks));
  return { ended, length: () => length, data: () => Buffer.concat(chunks) };
}

/** Sends `payload` without half-closing, waits for `expectBytes` back, then closes. */
async function roundTrip(port: number, payload: Buffer, expectBytes: number, host?: string): Promise<Buffer> {
  const socket = await open(port, host);
  const received = collect(socket);
  socket.write(payload);
  await waitFor(() => received.length() >= expectBytes, 60_000, `${expectBytes} bytes back`);
  socket.end();
  await closed(socket);
  return received.data();
}

/** Sends `bytes` random bytes to a sink-sha256 server, half-closes, and checks the digest it answers. */
async function sinkRoundTrip(port: number, bytes: number): Promise<void> {
  const payload = randomBytes(bytes);
  const socket = await open(port);
  const received = collect(socket);
  socket.end(payload);
  expect((await received.ended).toString()).toBe(`${sha256(payload)}\n`);
  await closed(socket);
}

/** Processes of the test process whose command is the docker CLI: live `docker exec` clients. */
async function dockerChildren(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const match = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (match?.[1] === 'docker' && Number(match[2]) === process.pid) found.push(Number(entry));
  }
  return found;
}

/** Command lines (args joined by spaces) of the processes in the container that match `pattern`. */
async function containerProcesses(containerId: string, pattern: RegExp): Promise<string[]> {
  const script = 'for f in /proc/[0-9]*/cmdline; do tr "\\000" " " <"$f"; echo; done';
  const result = await execa(DOCKER_COMMAND, ['exec', containerId, 'sh', '-c', script]);
  return result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => pattern.test(line));
}

async function expectNothingLeft(relay: RelayCase, relays: Promise<void>[]): Promise<void> {
  await Promise.all(relays);
  await waitFor(
    async () => (await dockerChildren()).length === 0,
    CLEANUP_TIMEOUT_MS,
    'docker exec clients to exit',
  );
  const containerId = relay.setup.container?.id ?? '';
  await waitFor(
    async () => (await containerProcesses(containerId, relay.processPattern)).length === 0,
    CLEANUP_TIMEOUT_MS,
    `no ${relay.name} relay left in the container`,
  );
}

describe.each(CASES)('relay through docker exec with $name', (relay) => {
  it('serves an HTTP request and response', async () => {
    const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.http));
    const response = await roundTripHttp(port, HTTP_PATH);
    expect(response.status).toBe(200);
    expect(response.body).toBe(HELLO_FILE_TEXT);
    await expectNothingLeft(relay, relays);
  });

  it('uploads and downloads 50 MB of random bytes unchanged (echo)', async () => {
    const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.echo));
    const payload = randomBytes(BIG_BYTES);
    const echoed = await roundTrip(port, payload, BIG_BYTES);
    expect(echoed.length).toBe(BIG_BYTES);
    expect(sha256(echoed)).toBe(sha256(payload));
    await expectNothingLeft(relay, relays);
  });

  it('downloads what the server sends on connect, byte for byte', async () => {
    const source = relay.setup.servers.find((server) => server.kind === 'source');
    const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.source));
    const data = await roundTrip(port, Buffer.alloc(0), SOURCE_BYTES);
    expect(data.length).toBe(source?.sourceBytes);
    expect(sha256(data)).toBe(source?.sourceSha256);
    await expectNothingLeft(relay, relays);
  });

  it('relays over IPv6 (::1 in the container)', async () => {
    const { port, relays } = await forward(execTarget(relay, '::1', PORTS.echo6));
    const payload = randomBytes(256 * 1024);
    const echoed = await roundTrip(port, payload, payload.length, '::1');
    expect(sha256(echoed)).toBe(sha256(payload));
    await expectNothingLeft(relay, relays);
  });

  if (relay.clientHalfClose) {
    it("passes the client's half-close on: 50 MB up, then EOF, then the server's answer", async () => {
      const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.sink));
      const payload = randomBytes(BIG_BYTES);
      const socket = await open(port);
      const received = collect(socket);
      socket.end(payload);
      const answer = await received.ended;
      expect(answer.toString()).toBe(`${sha256(payload)}\n`);
      await closed(socket);
      await expectNothingLeft(relay, relays);
    });
  } else {
    it("cannot pass the client's half-close on, but still relays everything before it", async () => {
      const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.echo));
      const socket = await open(port);
      const received = collect(socket);
      socket.end('sent before the half-close');
      await waitFor(() => received.length() === 26, 30_000, 'the echo');
      // The server never saw an EOF, so it has not closed: the relay is still up.
      await new Promise((resolve) => setTimeout(resolve, NO_EOF_WATCH_MS));
      expect(socket.readableEnded).toBe(false);
      expect(received.data().toString()).toBe('sent before the half-close');
      socket.destroy();
      await expectNothingLeft(relay, relays);
    });
  }

  if (relay.serverCloseFirst) {
    it("passes the server's close on to a client that keeps its side open", async () => {
      const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.http));
      const socket = await open(port);
      const received = collect(socket);
      socket.write(`GET ${HTTP_PATH} HTTP/1.0\r\n\r\n`);
      const response = (await received.ended).toString();
      expect(response).toMatch(/^HTTP\/1\.[01] 200/);
      expect(response.endsWith(HELLO_FILE_TEXT)).toBe(true);
      expect(socket.writableEnded).toBe(false);
      socket.end();
      await closed(socket);
      await expectNothingLeft(relay, relays);
    });
  } else {
    it("passes the server's close on only once the client ends its side", async () => {
      const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.http));
      const socket = await open(port);
      const received = collect(socket);
      socket.write(`GET ${HTTP_PATH} HTTP/1.0\r\n\r\n`);
      await waitFor(() => received.data().toString().endsWith(HELLO_FILE_TEXT), 30_000, 'the response');
      await new Promise((resolve) => setTimeout(resolve, NO_EOF_WATCH_MS));
      expect(socket.readableEnded).toBe(false);
      socket.end();
      await received.ended;
      await closed(socket);
      await expectNothingLeft(relay, relays);
    });
  }

  it(`carries ${CONCURRENT_CONNECTIONS} connections at once`, async () => {
    const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.echo));
    const payloads = Array.from({ length: CONCURRENT_CONNECTIONS }, () => randomBytes(CONCURRENT_BYTES));
    const echoed = await Promise.all(payloads.map((payload) => roundTrip(port, payload, payload.length)));
    expect(echoed.map(sha256)).toEqual(payloads.map(sha256));
    await expectNothingLeft(relay, relays);
  });

  it('ends the exec and the relay in the container when the client resets mid-stream', async () => {
    const { port, relays } = await forward(execTarget(relay, '127.0.0.1', PORTS.source));
    const socket = await open(port);
    const received = collect(socket);
    await waitFor(() => received.length() > 1024 * 1024, 30_000, 'the first megabyte');
    socket.resetAndDestroy();
    await expectNothingLeft(relay, relays);
  });

  it('resets the client when the relay cannot reach the server', async () => {
    const errors: string[] = [];
    const { port, relays } = await forward(execTarget(relay, '127.0.0.1', 1), errors);
    const socket = await open(port);
    socket.on('error', () => {});
    socket.resume();
    await closed(socket);
    await Promise.all(relays);
    expect(errors.join('\n')).toMatch(/exited with code [1-9]/);
    await expectNothingLeft(relay, relays);
  });
});

function roundTripHttp(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // agent: false sends "Connection: close" and ends the socket once the response is complete.
    const request = get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

describe('relay straight to the container IP', () => {
  let container: TestContainer | undefined;
  let host = '';
  const SINK_PORT = 7110;
  const V6_ONLY_SINK_PORT = 7112;

  beforeAll(async () => {
    container = await startContainer(DEBIAN_IMAGE);
    await startServer(container.id, { kind: 'sink-sha256', address: '0.0.0.0', port: SINK_PORT });
    await startServer(container.id, {
      kind: 'sink-sha256',
      address: '::',
      port: V6_ONLY_SINK_PORT,
      v6Only: true,
    });
    const info = await docker.inspect(container.id);
    host = info?.ipAddresses.find((address) => !address.includes(':')) ?? '';
    if (!host) throw new Error(`container ${container.id} has no IPv4 address`);
  });

  afterAll(async () => {
    if (container) await removeContainer(container.id);
  });

  it('relays 50 MB up, the half-close, and the answer back', async () => {
    const { port, relays } = await forward({ path: 'direct', host, port: SINK_PORT });
    await sinkRoundTrip(port, BIG_BYTES);
    await Promise.all(relays);
  });

  it('resets the client and reports it when the server refuses', async () => {
    const errors: string[] = [];
    const { port, relays } = await forward({ path: 'direct', host, port: 1 }, errors);
    const socket = await open(port);
    const failure = new Promise<string | undefined>((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code));
      socket.on('close', () => resolve(undefined));
    });
    socket.resume();
    expect(await failure).toBe('ECONNRESET');
    await Promise.all(relays);
    expect(errors.join('\n')).toMatch(/cannot connect/);
  });

  it('hands a refused connection whole to its fallback: an IPv6-only server reached at [::1] inside', async () => {
    const errors: string[] = [];
    let refused = 0;
    const containerId = container?.id ?? '';
    const argv = relayArgv({ kind: 'socat' }, '::1', V6_ONLY_SINK_PORT);
    const { port, relays } = await forward(
      {
        path: 'direct',
        host,
        port: V6_ONLY_SINK_PORT,
        refused: { fallback: { path: 'exec', containerId, argv }, onRefused: () => refused++ },
      },
      errors,
    );
    // The client's bytes, sent before the refusal, reach the server through the fallback.
    for (let round = 0; round < 2; round++) await sinkRoundTrip(port, 4 * 1024 * 1024);
    await Promise.all(relays);
    expect(refused).toBe(2);
    expect(errors).toEqual([]);
  });
});

describe("a client gone before its server: the server's side of the connection ends", () => {
  let container: TestContainer | undefined;
  let host = '';
  let agent: OnDemandAgent | undefined;
  // On all addresses, so that every path reaches it: direct at the container's IP, the others at 127.0.0.1.
  const ECHO_PORT = 7112;

  beforeAll(async () => {
    container = await startContainer(DEBIAN_IMAGE);
    const containerId = container.id;
    await startServer(containerId, { kind: 'echo', address: '0.0.0.0', port: ECHO_PORT });
    const info = await docker.inspect(containerId);
    host = info?.ipAddresses.find((address) => !address.includes(':')) ?? '';
    if (!host) throw new Error(`container ${containerId} has no IPv4 address`);
    const hostAddress = await findHostAddress(host);
    agent = new OnDemandAgent(host, () =>
      startRelayAgent(docker, containerId, {
        containerAddress: host,
        hostAddress,
        interpreter: 'python3',
        log: () => {},
      }),
    );
  });

  afterAll(async () => {
    await agent?.close();
    if (container) await removeContainer(container.id);
  });

  function target(path: 'direct' | 'agent' | 'exec'): RelayTarget {
    const containerId = container?.id ?? '';
    const exec = {
      path: 'exec',
      containerId,
      argv: relayArgv({ kind: 'socat' }, '127.0.0.1', ECHO_PORT),
    } as const;
    if (path === 'direct') return { path, host, port: ECHO_PORT };
    if (path === 'exec') return exec;
    const through = agent;
    if (!through) throw new Error('no relay agent');
    return {
      path,
      connect: (destination) => through.connect('127.0.0.1', ECHO_PORT, destination),
      fallback: exec,
    };
  }

  const serverConnections = () => serverConnectionsInContainer(container?.id ?? '', ECHO_PORT);

  it.each([
    ['direct', 'the client resets'],
    ['agent', 'the client resets'],
    ['exec', 'the client resets'],
    ['direct', 'the forwarder destroys its socket'],
    ['agent', 'the forwarder destroys its socket'],
    ['exec', 'the forwarder destroys its socket'],
  ] as const)('on the %s path, when %s', async (path, how) => {
    await waitFor(async () => (await serverConnections()) === 0, CLEANUP_TIMEOUT_MS, 'no connection left');
    const errors: string[] = [];
    const { port, relays, listener } = await forward(target(path), errors);
    const socket = await open(port);
    const received = collect(socket);
    socket.write('ping');
    await waitFor(() => received.length() === 4, 30_000, 'the echo');
    expect(await serverConnections()).toBe(1);

    // The forwarder destroys its client sockets when it shuts down (HostListener.close): the client
    // sees its EOF.
    const gone = closed(socket);
    if (how === 'the client resets') socket.resetAndDestroy();
    else await Promise.all([listener.close(), received.ended]);
    socket.destroy();
    await gone;
    await Promise.all(relays);
    await waitFor(
      async () => (await serverConnections()) === 0,
      CLEANUP_TIMEOUT_MS,
      "the server's side closed",
    );
    expect(errors).toEqual([]);
  });
});

describe('relay agent target whose agent cannot start', () => {
  let container: TestContainer | undefined;
  const SINK_PORT = 7111;

  beforeAll(async () => {
    container = await startContainer(DEBIAN_IMAGE);
    await startServer(container.id, { kind: 'sink-sha256', address: '127.0.0.1', port: SINK_PORT });
  });

  afterAll(async () => {
    if (container) await removeContainer(container.id);
  });

  it('takes the exec fallback, byte-exact with the half-close, and tries the start only once in its back-off', async () => {
    const containerId = container?.id ?? '';
    let starts = 0;
    const agent = new OnDemandAgent(
      '127.0.0.1',
      () => {
        starts++;
        return Promise.resolve(null);
      },
      // Longer than both rounds take on a busy machine: the second one comes within the back-off.
      { retryMinMs: 600_000 },
    );
    const { port, relays } = await forward({
      path: 'agent',
      connect: (destination) => agent.connect('127.0.0.1', SINK_PORT, destination),
      fallback: { path: 'exec', containerId, argv: relayArgv({ kind: 'socat' }, '127.0.0.1', SINK_PORT) },
    });
    for (let round = 0; round < 2; round++) await sinkRoundTrip(port, 4 * 1024 * 1024);
    await Promise.all(relays);
    expect(starts).toBe(1);
    expect(agent.usable).toBe(false);
  });
});

describe('probeRelayProgram', () => {
  const probed: TestContainer[] = [];
  afterAll(() => Promise.all(probed.map((container) => removeContainer(container.id))));

  it.each([
    [DEBIAN_IMAGE, { kind: 'socat' }],
    [BUSYBOX_NC_IMAGE, { kind: 'nc', flavor: 'busybox' }],
    [BASH_ONLY_IMAGE, { kind: 'python3' }],
    [PYTHON_IMAGE, { kind: 'python3' }],
  ])('finds the best relay in %s', async (image, expected) => {
    const container = await startContainer(image);
    probed.push(container);
    expect(await probeRelayProgram(docker, container.id, container.name)).toEqual(expected);
  });

  it('takes bash where python3 and perl are not there, and perl before bash', async () => {
    const container = await startContainer(BASH_ONLY_IMAGE);
    probed.push(container);
    await removeProgramsInContainer(container.id, ['python3']);
    expect(await probeRelayProgram(docker, container.id, container.name)).toEqual({ kind: 'perl' });
    await removeProgramsInContainer(container.id, ['perl']);
    expect(await probeRelayProgram(docker, container.id, container.name)).toEqual({ kind: 'bash' });
  });

  it('throws NO_RELAY_PROGRAM naming the container and what to install when it has none', async () => {
    const container = await startContainer(NONE_IMAGE);
    probed.push(container);
    const error = await probeRelayProgram(docker, container.id, container.name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForwarderError);
    expect((error as ForwarderError).code).toBe('NO_RELAY_PROGRAM');
    expect((error as ForwarderError).message).toContain(container.id.slice(0, 12));
    expect((error as ForwarderError).message).toContain(container.name);
    expect((error as ForwarderError).message).toMatch(/install socat/);
  });
});
