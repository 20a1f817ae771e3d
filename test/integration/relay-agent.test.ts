import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AGENT_HEADER_TIMEOUT_S,
  AGENT_TOKEN_BYTES,
  agentArgv,
  encodeAgentHeader,
  parseAgentReady,
  type AgentInterpreter,
} from '../../src/forwarding/relay/agent/agent-protocol.js';
import {
  findHostAddress,
  startRelayAgent,
  type RelayAgent,
} from '../../src/forwarding/relay/agent/agent-process.js';
import { Docker } from '../../src/runtime/docker.js';
import { localRunner, type ProcessRunner, type RunningProcess } from '../../src/runtime/process-runner.js';
import {
  DOCKER_COMMAND,
  deterministicBytes,
  isListeningInContainer,
  removeContainer,
  sha256,
  startContainer,
  startServer,
  waitFor,
  type ServerHandle,
  type TestContainer,
} from '../support/containers.js';
import { DEBIAN_IMAGE, NONE_IMAGE, PYTHON_IMAGE } from '../support/images.js';

const BIG_BYTES = 50 * 1024 * 1024;
const CONCURRENT_CONNECTIONS = 200;
const CONCURRENT_BYTES = 64 * 1024;
const AGENT_GONE_TIMEOUT_MS = 10_000;
const TRICKLING_CONNECTIONS = 50;
/** How late past the header deadline a trickling connection may close on a busy machine. */
const HEADER_DEADLINE_SLACK_S = 4;
const PORTS = { echo: 7201, sink: 7202, source: 7203, closer: 7204, bulk: 7205, greeting: 7206 } as const;

// Every `docker exec` the code under test starts, so that a test can SIGKILL the agent's client.
const spawned: RunningProcess[] = [];
const runner: ProcessRunner = {
  run: localRunner.run,
  spawn(file, args) {
    const child = localRunner.spawn(file, args);
    spawned.push(child);
    return child;
  },
};
const docker = new Docker(runner, DOCKER_COMMAND);

// Sends "bye", half-closes, then reads to EOF and logs what it got; logs every accept too, so a test
// can tell whether a connection ever reached it. argv: PORT LOG.
const CLOSER_SERVER = `
import hashlib, socket, sys, threading
port, log = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
def note(text):
    with lock, open(log, 'a') as out:
        out.write(text + '\\n')
def serve(conn):
    note('accepted')
    conn.sendall(b'bye\\n')
    conn.shutdown(socket.SHUT_WR)
    digest, total = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    note('received %d %s' % (total, digest.hexdigest()))
    conn.close()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', port))
server.listen(64)
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
`;

// "down N\\n": sends N bytes and closes; "up\\n": counts bytes to EOF and answers the count. argv: PORT.
const BULK_SERVER = `
import socket, sys, threading
def serve(conn):
    command = b''
    while not command.endswith(b'\\n'):
        command += conn.recv(1)
    words = command.split()
    if words[0] == b'down':
        left, block = int(words[1]), bytes(1 << 20)
        while left > 0:
            left -= conn.send(memoryview(block)[:min(left, len(block))])
        conn.shutdown(socket.SHUT_WR)
    else:
        total, buffer = 0, bytearray(1 << 20)
        while True:
            n = conn.recv_into(buffer)
            if not n:
                break
            total += n
        conn.sendall(str(total).encode())
    conn.close()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('0.0.0.0', int(sys.argv[1])))
server.listen(256)
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
`;

// From another container: sends the header (hex), prints how much came back before the agent closed
// (or reset) the connection.
const PEER_CLIENT = `
import socket, sys
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
conn.sendall(bytes.fromhex(sys.argv[3]))
data = b''
try:
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
except ConnectionResetError:
    pass
print('got %d bytes' % len(data))
`;

interface Fixture {
  container: TestContainer;
  address: string;
  hostAddress: string;
  servers: ServerHandle[];
  closerLog: string;
}

async function startScript(containerId: string, script: string, args: string[], port: number): Promise<void> {
  await execa(DOCKER_COMMAND, ['exec', '--detach', containerId, 'python3', '-c', script, ...args]);
  await waitFor(
    async () =>
      (await isListeningInContainer(containerId, '127.0.0.1', port)) ||
      isListeningInContainer(containerId, '0.0.0.0', port),
    15_000,
    `test server on port ${port}`,
  );
}

async function setUp(image: string): Promise<Fixture> {
  const container = await startContainer(image);
  const info = await docker.inspect(container.id);
  const address = info?.ipAddresses.find((a) => !a.includes(':'));
  if (!address) throw new Error(`container ${container.name} has no IPv4 address`);
  const hostAddress = await findHostAddress(address);
  if (!hostAddress) throw new Error(`the host has no route to ${address}`);
  const closerLog = `/tmp/closer-${randomBytes(4).toString('hex')}.log`;
  const servers = await Promise.all([
    startServer(container.id, { kind: 'echo', address: '127.0.0.1', port: PORTS.echo }),
    startServer(container.id, { kind: 'sink-sha256', address: '127.0.0.1', port: PORTS.sink }),
    startServer(container.id, { kind: 'source', address: '::1', port: PORTS.source, sourceBytes: BIG_BYTES }),
    startServer(container.id, { kind: 'greeting', address: '0.0.0.0', port: PORTS.greeting }),
  ]);
  await startScript(container.id, CLOSER_SERVER, [String(PORTS.closer), closerLog], PORTS.closer);
  await startScript(container.id, BULK_SERVER, [String(PORTS.bulk)], PORTS.bulk);
  return { container, address, hostAddress, servers, closerLog };
}

async function start(fixture: Fixture, interpreter: AgentInterpreter): Promise<RelayAgent> {
  const agent = await startRelayAgent(docker, fixture.container.id, {
    containerAddress: fixture.address,
    hostAddress: fixture.hostAddress,
    interpreter,
    log: (message) => console.warn(message),
  });
  if (!agent) throw new Error(`the ${interpreter} agent did not start`);
  return agent;
}

/** Writes `input`, half-closes, and resolves to everything received until the other side's FIN. */
async function exchange(socket: Socket, input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  const ended = once(socket, 'end');
  socket.end(input);
  await ended;
  return Buffer.concat(chunks);
}

/** Resolves to every byte received before the connection closed (however it closed). */
async function readUntilClosed(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  // Sockets from the agent allow half-open connections: the other side's FIN alone does not close them.
  socket.on('end', () => socket.end());
  socket.resume();
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

async function readFileInContainer(containerId: string, path: string): Promise<string> {
  const result = await execa(DOCKER_COMMAND, ['exec', containerId, 'cat', path], { reject: false });
  return result.stdout;
}

/** The container's processes that are relay agents (or their per-connection children). */
async function agentProcesses(containerId: string): Promise<string[]> {
  const { stdout } = await execa(DOCKER_COMMAND, ['exec', containerId, 'ps', '-eo', 'pid,rss,args']);
  return stdout.split('\n').filter((line) => line.includes('portpilot relay agent'));
}

const fixtures: Partial<Record<'debian' | 'python', Fixture>> = {};

beforeAll(async () => {
  [fixtures.debian, fixtures.python] = await Promise.all([setUp(DEBIAN_IMAGE), setUp(PYTHON_IMAGE)]);
}, 300_000);

afterAll(async () => {
  await Promise.all(Object.values(fixtures).map((fixture) => removeContainer(fixture.container.id)));
});

function fixture(name: 'debian' | 'python'): Fixture {
  const found = fixtures[name];
  if (!found) throw new Error(`no ${name} fixture`);
  return found;
}

describe.each([
  { interpreter: 'python3', image: 'debian' },
  { interpreter: 'perl', image: 'debian' },
  { interpreter: 'python3', image: 'python' },
  { interpreter: 'perl', image: 'python' },
] as const)('relay agent ($interpreter, $image image)', ({ interpreter, image }) => {
  let agent: RelayAgent;
  beforeAll(async () => {
    agent = await start(fixture(image), interpreter);
  }, 60_000);
  afterAll(async () => {
    await agent.close();
  });

  it('listens on the container address and relays 50 MB each way byte for byte', async () => {
    const { address, servers } = fixture(image);
    expect(agent.alive).toBe(true);
    expect(agent.host).toBe(address);
    const upload = deterministicBytes(BIG_BYTES, `agent-${interpreter}`);
    const [reply, download] = await Promise.all([
      agent.connect('127.0.0.1', PORTS.sink).then((socket) => exchange(socket, upload)),
      agent.connect('::1', PORTS.source).then((socket) => exchange(socket, Buffer.alloc(0))),
    ]);
    // The client's half-close reached the server, whose answer still came back.
    expect(reply.toString()).toBe(`${sha256(upload)}\n`);
    const source = servers.find((server) => server.kind === 'source');
    expect(download.length).toBe(BIG_BYTES);
    expect(sha256(download)).toBe(source?.sourceSha256);
  });

  it("passes the server's half-close on while the client keeps sending", async () => {
    const { container, closerLog } = fixture(image);
    const socket = await agent.connect('127.0.0.1', PORTS.closer);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await once(socket, 'end');
    expect(Buffer.concat(received).toString()).toBe('bye\n');
    const late = deterministicBytes(1024 * 1024, `late-${interpreter}`);
    socket.end(late);
    await once(socket, 'close');
    await waitFor(
      async () => (await readFileInContainer(container.id, closerLog)).includes(sha256(late)),
      10_000,
      'the server to log the bytes sent after its FIN',
    );
  });

  it(`relays ${CONCURRENT_CONNECTIONS} concurrent connections`, async () => {
    const inputs = Array.from({ length: CONCURRENT_CONNECTIONS }, (_, i) =>
      deterministicBytes(CONCURRENT_BYTES, `concurrent-${interpreter}-${i}`),
    );
    const sockets = await Promise.all(inputs.map(() => agent.connect('127.0.0.1', PORTS.echo)));
    const outputs = await Promise.all(
      sockets.map((socket, i) => exchange(socket, inputs[i] ?? Buffer.alloc(0))),
    );
    outputs.forEach((output, i) => expect(output.equals(inputs[i] ?? Buffer.alloc(0))).toBe(true));
  });

  it('reports a refused target, and one outside the container, as errors', async () => {
    await expect(agent.connect('127.0.0.1', 7299)).rejects.toThrow(/ECONNREFUSED/);
    await expect(agent.connect('192.0.2.1', 80)).rejects.toThrow(/EADDRNOTAVAIL/);
  });

  it('closes a connection without the token before it reaches the server', async () => {
    const { container, closerLog } = fixture(image);
    const acceptedBefore = (await readFileInContainer(container.id, closerLog)).split('accepted').length;
    for (const header of [
      encodeAgentHeader(randomBytes(AGENT_TOKEN_BYTES), '127.0.0.1', PORTS.closer),
      Buffer.alloc(encodeAgentHeader(randomBytes(AGENT_TOKEN_BYTES), '::1', 1).length, 'x'),
    ]) {
      const socket = connect({ host: agent.host, port: agent.port });
      socket.write(header);
      expect((await readUntilClosed(socket)).length).toBe(0);
    }
    // A proper connection afterwards proves the server was up (and logs in order) all along.
    const proper = await agent.connect('127.0.0.1', PORTS.closer);
    await exchange(proper, Buffer.from('x'));
    const log = await readFileInContainer(container.id, closerLog);
    expect(log.split('accepted').length).toBe(acceptedBefore + 1);
  });
});

/**
 * Sends one byte of `header` a second until the agent closes the connection; resolves to the seconds
 * that took. The close may come as a reset: a byte can arrive just as the agent closes.
 */
async function trickle(host: string, port: number, header: Buffer): Promise<number> {
  const socket = connect({ host, port });
  const started = Date.now();
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', () => {});
  socket.on('end', () => socket.end());
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < header.length && !socket.destroyed) socket.write(header.subarray(sent, ++sent));
  }, 1_000);
  await closed;
  clearInterval(timer);
  expect(received).toBe(0);
  expect(sent).toBeLessThan(header.length);
  return (Date.now() - started) / 1_000;
}

/** The thread count of the running python3 agent in the container. */
async function pythonAgentThreads(containerId: string): Promise<number> {
  const { stdout } = await execa(DOCKER_COMMAND, ['exec', containerId, 'ps', '-eo', 'nlwp,args']);
  const line = stdout.split('\n').find((text) => text.includes('portpilot relay agent (python3)'));
  if (!line) throw new Error(`no python3 agent runs in container ${containerId.slice(0, 12)}`);
  return Number(line.trim().split(/\s+/)[0]);
}

describe.each(['python3', 'perl'] as const)('relay agent header deadline (%s)', (interpreter) => {
  it(`closes a connection whose header trickles in a byte a second within ${AGENT_HEADER_TIMEOUT_S} s, and spends no thread on it`, async () => {
    const { container } = fixture('python');
    const agent = await start(fixture('python'), interpreter);
    try {
      const threadsBefore = interpreter === 'python3' ? await pythonAgentThreads(container.id) : 0;
      // A real token, so that only the deadline can close it; many at once, as a hostile peer would.
      const header = encodeAgentHeader(randomBytes(AGENT_TOKEN_BYTES), '127.0.0.1', PORTS.echo);
      const trickling = Array.from({ length: TRICKLING_CONNECTIONS }, () =>
        trickle(agent.host, agent.port, header),
      );
      await sleep(2_000);
      if (interpreter === 'python3') {
        expect(await pythonAgentThreads(container.id)).toBeLessThanOrEqual(threadsBefore);
      }
      // The agent still serves the forwarder meanwhile.
      const echoed = await exchange(await agent.connect('127.0.0.1', PORTS.echo), Buffer.from('ping'));
      expect(echoed.toString()).toBe('ping');
      for (const seconds of await Promise.all(trickling)) {
        expect(seconds).toBeGreaterThanOrEqual(AGENT_HEADER_TIMEOUT_S - 1);
        expect(seconds).toBeLessThan(AGENT_HEADER_TIMEOUT_S + HEADER_DEADLINE_SLACK_S);
      }
    } finally {
      await agent.close();
    }
  });
});

describe('relay agent lifetime', () => {
  it.each(['python3', 'perl'] as const)(
    'exits, connections and all, when the forwarder ends its stdin (%s)',
    async (interpreter) => {
      const { container } = fixture('debian');
      const agent = await start(fixture('debian'), interpreter);
      const open = await agent.connect('127.0.0.1', PORTS.echo);
      const closed = readUntilClosed(open);
      expect((await agentProcesses(container.id)).length).toBeGreaterThan(0);
      await agent.close();
      expect(agent.alive).toBe(false);
      await closed;
      await waitFor(
        async () => (await agentProcesses(container.id)).length === 0,
        AGENT_GONE_TIMEOUT_MS,
        'no agent process in the container',
      );
    },
  );

  it.each(['python3', 'perl'] as const)(
    'exits when its docker exec client is killed with SIGKILL (%s)',
    async (interpreter) => {
      const { container } = fixture('python');
      const agent = await start(fixture('python'), interpreter);
      const client = spawned.at(-1);
      if (!client?.pid) throw new Error('the agent was not started through the test runner');
      const open = await agent.connect('127.0.0.1', PORTS.echo);
      const closed = readUntilClosed(open);
      process.kill(client.pid, 'SIGKILL');
      await waitFor(() => !agent.alive, AGENT_GONE_TIMEOUT_MS, 'the agent to be reported dead');
      await closed;
      await waitFor(
        async () => (await agentProcesses(container.id)).length === 0,
        AGENT_GONE_TIMEOUT_MS,
        'no agent process in the container',
      );
      await expect(agent.connect('127.0.0.1', PORTS.echo)).rejects.toThrow(/not running/);
      await agent.close();
    },
  );

  it('returns null, and says why, where it cannot run or cannot listen', async () => {
    const messages: string[] = [];
    const log = (message: string) => messages.push(message);
    const bare = await startContainer(NONE_IMAGE);
    try {
      const info = await docker.inspect(bare.id);
      const containerAddress = info?.ipAddresses[0] ?? '';
      for (const interpreter of ['python3', 'perl'] as const) {
        expect(
          await startRelayAgent(docker, bare.id, { containerAddress, hostAddress: null, interpreter, log }),
        ).toBeNull();
      }
      expect(messages.join('\n')).toMatch(/relay agent \(perl\) .* did not start: .*perl/);
      messages.length = 0;
      // An address that is not the container's own: the agent cannot listen there.
      const { container } = fixture('python');
      const options = { containerAddress: '192.0.2.1', hostAddress: null, interpreter: 'perl', log } as const;
      expect(await startRelayAgent(docker, container.id, options)).toBeNull();
      expect(messages.join('\n')).toMatch(/did not start: relay agent cannot listen on 192\.0\.2\.1/);
    } finally {
      await removeContainer(bare.id);
    }
  });
});

describe('relay agent peer check', () => {
  it('refuses a connection from another container on the bridge, even with the token', async () => {
    const { container, address, hostAddress, closerLog } = fixture('debian');
    const token = randomBytes(AGENT_TOKEN_BYTES);
    const exec = docker.execStream(container.id, agentArgv('python3', address, hostAddress));
    exec.stdin.write(`${token.toString('hex')}\n`);
    const [line] = (await once(exec.stdout, 'data')) as [Buffer];
    const port = parseAgentReady(line.toString().split('\n')[0] ?? '');
    if (port === null) throw new Error(`the agent said ${line.toString()}`);
    const header = encodeAgentHeader(token, '127.0.0.1', PORTS.closer);
    const acceptedBefore = (await readFileInContainer(container.id, closerLog)).split('accepted').length;
    const neighbour = await startContainer(PYTHON_IMAGE);
    try {
      const { stdout } = await execa(DOCKER_COMMAND, [
        'exec',
        neighbour.id,
        'python3',
        '-c',
        PEER_CLIENT,
        address,
        String(port),
        header.toString('hex'),
      ]);
      expect(stdout.trim()).toBe('got 0 bytes');
      expect((await readFileInContainer(container.id, closerLog)).split('accepted').length).toBe(
        acceptedBefore,
      );
      // The same header from the host gets through.
      const socket = connect({ host: address, port });
      socket.write(header);
      expect((await readUntilClosed(socket)).toString('latin1')).toBe('\0bye\n');
    } finally {
      exec.stdin.end();
      await exec.exited;
      await removeContainer(neighbour.id);
    }
  });
});
