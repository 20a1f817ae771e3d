import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStateDir, runCli } from '../support/cli.js';
import {
  deterministicBytes,
  freeHostPort,
  removeThisRunsTestContainers,
  sha256,
  startContainer,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import {
  childPids,
  containerProcesses,
  forwardContainer,
  openConnection,
  openFds,
  roundTrip,
  startFaultServer,
  trackConnection,
  waitForRows,
} from './support/faults.js';

const stateDir = makeStateDir();
const started: TestContainer[] = [];
const CONCURRENT = 200;
const HALF_CLOSE_BYTES = 4 * 1024 * 1024;
const IDLE_HOLD_MS = 10_000;

afterAll(async () => {
  for (const container of started)
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  await removeThisRunsTestContainers();
});

interface PathCase {
  name: 'direct' | 'netns' | 'agent' | 'exec';
  /** Where the servers listen in the container: the wildcard is dialled directly, loopback is relayed. */
  address: '0.0.0.0' | '127.0.0.1';
  upArgs: string[];
  /** The relay processes this path runs in the container (none for direct). */
  relay: RegExp | null;
  /** Short connections one after another; exec costs a `docker exec` (~0.1-0.3 s) each. */
  inARow: number;
}

const CASES: PathCase[] = [
  { name: 'direct', address: '0.0.0.0', upArgs: [], relay: null, inARow: 1000 },
  // The namespace helper runs on the host, nothing in the container.
  { name: 'netns', address: '127.0.0.1', upArgs: [], relay: null, inARow: 1000 },
  {
    name: 'agent',
    address: '127.0.0.1',
    upArgs: ['--relay-path', 'agent'],
    relay: /python3 -I -S -c/,
    inARow: 1000,
  },
  {
    name: 'exec',
    address: '127.0.0.1',
    upArgs: ['--relay-path', 'exec'],
    relay: /socat -d -d/,
    inARow: 200,
  },
];

/** What a forwarder holds and runs: compared before and after a load, which must leave nothing behind. */
interface Footprint {
  fds: number;
  children: number;
  relays: number;
}

describe.each(CASES)('relay faults on the $name path', (path) => {
  let container: TestContainer;
  let pid: number;
  let baseline: Footprint;
  const ports = { echo: 0, reset: 0, sink: 0 };

  async function footprint(): Promise<Footprint> {
    const relays = path.relay ? (await containerProcesses(container.id, path.relay)).length : 0;
    return { fds: openFds(pid).size, children: childPids(pid).length, relays };
  }

  /** The forwarder's log lines at warning level or above, to explain a failure. */
  function forwarderWarnings(): string {
    const log = join(stateDir, 'forwarders', `${container.id}.log`);
    const lines = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => /"level":(4|5|6)0/.test(line));
    return `forwarder warnings:\n${lines.slice(-10).join('\n')}`;
  }

  /** Waits until the footprint is back to the baseline, then asserts it is. */
  async function expectNothingLeft(): Promise<void> {
    const fdsBefore = [...openFds(pid).values()];
    let last = await footprint();
    await waitFor(
      async () => {
        last = await footprint();
        return JSON.stringify(last) === JSON.stringify(baseline);
      },
      20_000,
      'the forwarder to be back to its baseline footprint',
    ).catch(() => undefined);
    const fdsNow = [...openFds(pid).values()];
    expect(
      last,
      `open fds now: ${fdsNow.join(' ')}; at the start of the wait: ${fdsBefore.join(' ')}`,
    ).toEqual(baseline);
  }

  beforeAll(async () => {
    container = await startContainer(TEST_IMAGES.debian.tag);
    started.push(container);
    ports.echo = await freeHostPort();
    ports.reset = await freeHostPort();
    ports.sink = await freeHostPort();
    await startFaultServer(container.id, 'echo', path.address, [ports.echo]);
    await startFaultServer(container.id, 'reset-after-read', path.address, [ports.reset]);
    await startServer(container.id, { port: ports.sink, address: path.address, kind: 'sink-sha256' });
    pid = await forwardContainer(stateDir, container.id, path.upArgs);
    const rows = await waitForRows(stateDir, container.id, Object.values(ports));
    for (const row of rows) expect(row.path).toBe(path.name);
    // One connection first, so that whatever starts lazily (the agent) is part of the baseline.
    expect((await exchange(ports.echo, Buffer.from('warm-up'))).toString()).toBe('warm-up');
    await sleep(4_000);
    baseline = await footprint();
  });

  it('a server that resets the connection: the client sees it end, within seconds', async () => {
    const client = await trackConnection(ports.reset);
    client.socket.write('hello');
    await client.ended(10_000);
    // A client that kept its half of a finished connection would hold the forwarder's socket.
    client.socket.destroy();
  });

  it('a client that sends, then half-closes, gets the whole reply', async () => {
    const data = deterministicBytes(HALF_CLOSE_BYTES, 'half-close');
    const reply = await exchange(ports.sink, data);
    expect(reply.toString()).toBe(`${sha256(data)}\n`);
  });

  it('a connection held open and idle does not slow the others down', async () => {
    const probe = async (): Promise<number> => {
      const socket = await openConnection(ports.echo);
      const started = performance.now();
      await roundTrip(socket, Buffer.from('ping'));
      const elapsed = performance.now() - started;
      socket.destroy();
      return elapsed;
    };
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const before: number[] = [];
    for (let i = 0; i < 5; i++) before.push(await probe());

    const idle = await openConnection(ports.echo);
    const during: number[] = [];
    const until = Date.now() + IDLE_HOLD_MS;
    while (Date.now() < until) {
      during.push(await probe());
      await sleep(500);
    }
    // The idle one still works after its silence.
    expect((await roundTrip(idle, Buffer.from('still here'))).toString()).toBe('still here');
    idle.destroy();
    expect(median(during), `before: ${before.map(Math.round).join(', ')} ms`).toBeLessThan(
      median(before) * 3 + 250,
    );
  });

  it(`${CONCURRENT} connections at once: none lost, none altered, nothing left behind`, async () => {
    const results = await Promise.all(
      Array.from({ length: CONCURRENT }, async (_, index) => {
        const data = randomBytes(16 * 1024 + index);
        const reply = await exchange(ports.echo, data).catch((error: Error) => error);
        if (reply instanceof Error) return `#${index}: ${reply.message}`;
        return reply.equals(data) ? null : `#${index}: ${reply.length} of ${data.length} bytes, altered`;
      }),
    );
    expect(
      results.filter((failure) => failure !== null),
      forwarderWarnings(),
    ).toEqual([]);
    await expectNothingLeft();
  });

  it(`${path.inARow} short connections in a row: none lost, none altered, nothing left behind`, async () => {
    const failures: string[] = [];
    for (let index = 0; index < path.inARow; index++) {
      const data = Buffer.from(`connection ${index}\n`);
      const reply = await exchange(ports.echo, data).catch((error: Error) => error);
      if (reply instanceof Error) failures.push(`#${index}: ${reply.message}`);
      else if (!reply.equals(data)) failures.push(`#${index}: got ${JSON.stringify(reply.toString())}`);
    }
    expect(failures, forwarderWarnings()).toEqual([]);
    await expectNothingLeft();
  });
});

describe.each(CASES.filter((c) => c.relay !== null))(
  'the in-container relay killed mid-connection ($name path)',
  (path) => {
    it("the client's connection ends, and new connections are relayed again", async () => {
      const container = await startContainer(TEST_IMAGES.debian.tag);
      started.push(container);
      const port = await freeHostPort();
      await startFaultServer(container.id, 'echo', path.address, [port]);
      await forwardContainer(stateDir, container.id, path.upArgs);
      await waitForRows(stateDir, container.id, [port]);

      const client = await trackConnection(port);
      expect((await roundTrip(client.socket, Buffer.from('before'))).toString()).toBe('before');
      const relays = await containerProcesses(container.id, path.relay ?? /$^/);
      expect(relays.length).toBeGreaterThan(0);
      const pids = relays.map((line) => line.trim().split(/\s+/)[0] ?? '');
      // docker top shows host pids: the relay is killed from the host, as the OOM killer would.
      await execa('kill', ['-9', ...pids]);
      await client.ended(10_000);
      client.socket.destroy();

      const reply = await waitFor(
        () => exchange(port, Buffer.from('after')).catch(() => null),
        20_000,
        'a new connection to be relayed',
      );
      expect(reply.toString()).toBe('after');
    });
  },
);
