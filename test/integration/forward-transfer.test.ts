import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portsJson, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  sha256,
  waitFor,
  type ServerAddress,
  startTransferServers,
} from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;
const TRANSFER_BYTES = 50 * 1024 * 1024;
const CONCURRENT_CONNECTIONS = 50;

interface PathCase {
  name: string;
  address: ServerAddress;
  relayPath: 'auto' | 'agent' | 'exec';
  expectedPath: 'direct' | 'netns' | 'agent' | 'exec';
  /** Execs (agent, relays) through `docker exec` clients rather than the engine's API. */
  throughCli?: boolean;
}

// Every relay path, each forced or chosen: the same byte-exact, half-close and concurrency checks.
const CASES: PathCase[] = [
  {
    name: 'loopback-bound server (namespace helper)',
    address: '127.0.0.1',
    relayPath: 'auto',
    expectedPath: 'netns',
  },
  {
    name: 'loopback-bound server, relay agent forced',
    address: '127.0.0.1',
    relayPath: 'agent',
    expectedPath: 'agent',
  },
  {
    name: 'loopback-bound server, exec forced',
    address: '127.0.0.1',
    relayPath: 'exec',
    expectedPath: 'exec',
  },
  {
    name: 'wildcard-bound server (direct dial)',
    address: '0.0.0.0',
    relayPath: 'auto',
    expectedPath: 'direct',
  },
  { name: 'wildcard-bound server, exec forced', address: '0.0.0.0', relayPath: 'exec', expectedPath: 'exec' },
  // A CLI named other than `docker` (--docker-path) keeps every exec on the CLI: the fallback for
  // remote engines and named contexts.
  {
    name: 'loopback-bound server, relay agent forced, through the docker CLI',
    address: '127.0.0.1',
    relayPath: 'agent',
    expectedPath: 'agent',
    throughCli: true,
  },
  {
    name: 'loopback-bound server, exec forced, through the docker CLI',
    address: '127.0.0.1',
    relayPath: 'exec',
    expectedPath: 'exec',
    throughCli: true,
  },
];

// The same docker CLI under another name, in a directory removed after the file's tests.
const cliDirs: string[] = [];
afterAll(() => Promise.all(cliDirs.map((dir) => rm(dir, { recursive: true, force: true }))));
async function renamedDockerCli(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portpilot-cli-'));
  cliDirs.push(dir);
  const path = join(dir, 'docker-cli');
  const real = (await execa('sh', ['-c', `command -v ${DOCKER_COMMAND}`])).stdout.trim();
  await symlink(real, path);
  return path;
}

describe.each(CASES)('bytes through a forward: $name', (pathCase) => {
  const { address, relayPath, expectedPath } = pathCase;
  const ports = { sink: 0, source: 0, echo: 0 };
  let sourceSha = '';
  let logFile = '';

  beforeAll(async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const servers = await startTransferServers(container.id, address, TRANSFER_BYTES);
    Object.assign(ports, servers.ports);
    sourceSha = servers.sourceSha;
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--relay-path',
      relayPath,
      ...(pathCase.throughCli ? ['--docker-path', await renamedDockerCli()] : []),
    ]);
    expect(line.outcome, run.stderr).toBe('success');
    logFile = line.forwarder?.logFile ?? '';
    const rows = await waitFor(async () => {
      const current = (await portsJson(stateDir)).filter((r) => r.containerId === container.id);
      return current.length === 3 ? current : null;
    }, 5_000);
    for (const row of rows) expect(row.path).toBe(expectedPath);
  });

  it('50 MB uploaded arrive unchanged (the server hashes what it got after our half-close)', async () => {
    const data = randomBytes(TRANSFER_BYTES);
    const reply = await exchange(ports.sink, data);
    expect(reply.toString('utf8').trim()).toBe(sha256(data));
  });

  it('50 MB downloaded arrive unchanged', async () => {
    const received = await exchange(ports.source);
    expect(received.length).toBe(TRANSFER_BYTES);
    expect(sha256(received)).toBe(sourceSha);
  });

  it(`takes its execs ${pathCase.throughCli ? 'through the docker CLI' : 'through the engine API'}`, async () => {
    const log = await readFile(logFile, 'utf8');
    expect(log).toContain(
      pathCase.throughCli ? "relay execs go through '/" : 'relay execs go through the engine API',
    );
  });

  it('50 concurrent connections all complete byte-exact', async () => {
    const payloads = Array.from({ length: CONCURRENT_CONNECTIONS }, () => randomBytes(64 * 1024));
    const replies = await Promise.all(payloads.map((payload) => exchange(ports.echo, payload)));
    replies.forEach((reply, i) => expect(reply.equals(payloads[i] ?? Buffer.alloc(0))).toBe(true));
  });
});
