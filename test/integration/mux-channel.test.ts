import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { portsJson, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  deterministicBytes,
  freeHostPort,
  removeProgramsInContainer,
  sha256,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { exchange, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES, type TestImageName } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

/** Command lines of the container's mux agents. */
async function muxAgents(containerId: string): Promise<string[]> {
  const script = 'for f in /proc/[0-9]*/cmdline; do tr "\\000" " " <"$f"; echo; done';
  const { stdout } = await execa(DOCKER_COMMAND, ['exec', containerId, 'sh', '-c', script]);
  return stdout.split('\n').filter((line) => line.includes('portpilot mux agent'));
}

/**
 * GET /hello.txt without half-closing, as curl and browsers send it: python's http.server resets a
 * client that half-closes right after its request when a burst of them fills its listen backlog of
 * 5, whatever carries the connection (a client on the container's own loopback sees the same).
 */
function getAsBrowsersDo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('connect', () => socket.write('GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      const response = Buffer.concat(chunks).toString('utf8');
      resolve(response.slice(response.indexOf('\r\n\r\n') + 4));
    });
    socket.on('error', reject);
  });
}

/** The forwarder's log without its port events: what it said about relays, for a failure's message. */
function forwarderNotes(containerId: string): string {
  const log = readFileSync(join(stateDir, 'forwarders', `${containerId}.log`), 'utf8');
  return log
    .split('\n')
    .filter((line) => !line.includes('"portEvent"'))
    .join('\n');
}

/** The execs the engine knows for the container (Docker keeps ended ones for a few minutes). */
async function execIds(containerId: string): Promise<Set<string>> {
  const { stdout } = await execa(DOCKER_COMMAND, ['inspect', '-f', '{{json .ExecIDs}}', containerId]);
  return new Set((JSON.parse(stdout) as string[] | null) ?? []);
}

// No test image has perl without python3: the python image, its python3 taken away once its
// servers run, is one (the forwarder's probe finds perl alone).
const CASES: { name: string; image: TestImageName; remove: string[]; interpreter: string }[] = [
  { name: 'debian (python3)', image: 'debian', remove: [], interpreter: 'python3' },
  { name: 'perl without python3', image: 'python', remove: ['python3'], interpreter: 'perl' },
];

describe.each(CASES)('--relay-path mux, $name', ({ image, remove, interpreter }) => {
  let container: TestContainer;
  let http: number;
  let echo: number;
  let sink: number;

  beforeAll(async () => {
    container = await scope.start(TEST_IMAGES[image].tag);
    [http, echo, sink] = [await freeHostPort(), await freeHostPort(), await freeHostPort()];
    await startServer(container.id, { port: http, address: '127.0.0.1', kind: 'http' });
    await startServer(container.id, { port: echo, address: '127.0.0.1', kind: 'echo' });
    await startServer(container.id, { port: sink, address: '127.0.0.1', kind: 'sink-sha256' });
    if (remove.length > 0) await removeProgramsInContainer(container.id, remove);
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--relay-path',
      'mux',
    ]);
    expect(line.outcome, run.stderr).toBe('success');
    await waitFor(
      async () => (await portsJson(stateDir, ['--container-id', container.id])).length === 3,
      5_000,
      'three ports forwarded',
    );
  });

  it('says path "mux" in ports --json, and starts nothing in the container before a connection', async () => {
    const rows = await portsJson(stateDir, ['--container-id', container.id]);
    expect(rows.map((row) => row.path)).toEqual(['mux', 'mux', 'mux']);
    expect(await muxAgents(container.id)).toEqual([]);
  });

  it(`carries a loopback-bound server's bytes unchanged, both ways, on one ${interpreter} agent`, async () => {
    expect((await httpGet(http, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    const agents = await muxAgents(container.id);
    expect(agents).toHaveLength(1);
    expect(agents[0]).toContain(`portpilot mux agent (${interpreter})`);
    const payload = deterministicBytes(8 * 1024 * 1024, interpreter);
    const back = await exchange(echo, payload);
    expect(back.length, forwarderNotes(container.id)).toBe(payload.length);
    expect(sha256(back)).toBe(sha256(payload));
  });

  it("passes the client's half-close on: the server answers after reading to EOF", async () => {
    const payload = deterministicBytes(1024 * 1024, 'half-close');
    expect((await exchange(sink, payload)).toString().trim()).toBe(sha256(payload));
  });

  it('serves 30 concurrent GETs through the one exec, starting no other', async () => {
    const before = await execIds(container.id);
    const settled = await Promise.allSettled(Array.from({ length: 30 }, () => getAsBrowsersDo(http)));
    const failed = settled.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    expect(failed, forwarderNotes(container.id)).toEqual([]);
    const replies = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    expect(replies).toEqual(Array<string>(30).fill(HELLO_FILE_TEXT));
    const transfers = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const payload = deterministicBytes(256 * 1024, `c${i}`);
        return sha256(await exchange(echo, payload)) === sha256(payload);
      }),
    );
    expect(transfers).toEqual([true, true, true]);
    const after = await execIds(container.id);
    expect([...after].filter((id) => !before.has(id))).toEqual([]);
    expect(await muxAgents(container.id)).toHaveLength(1);
  });
});
