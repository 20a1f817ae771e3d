import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, processAlive, runCli } from '../support/cli.js';
import {
  freeHostPort,
  removeThisRunsTestContainers,
  startContainer,
  startServer,
  type TestContainer,
} from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { forwardContainer, runCliWith, waitForRows } from './support/faults.js';

const started: { container: TestContainer; stateDir: string }[] = [];
const HUGE_BYTES = 50 * 1024 * 1024;

afterAll(async () => {
  for (const { container, stateDir } of started)
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  await removeThisRunsTestContainers();
});

async function forwarded(): Promise<{
  stateDir: string;
  container: TestContainer;
  port: number;
  pid: number;
}> {
  const stateDir = makeStateDir();
  const container = await startContainer(TEST_IMAGES.debian.tag);
  started.push({ container, stateDir });
  const port = await freeHostPort();
  await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
  const pid = await forwardContainer(stateDir, container.id);
  await waitForRows(stateDir, container.id, [port]);
  return { stateDir, container, port, pid };
}

/** A registry entry of the right shape, for a forwarder that does not exist. */
function deadEntry(index: number): Record<string, unknown> {
  return {
    containerId: 'f'.repeat(64),
    containerName: `gone-${index}`,
    service: null,
    containerPort: 1024 + (index % 60000),
    hostAddress: '127.0.0.1',
    hostPort: 1024 + (index % 60000),
    protocol: 'tcp',
    origin: 'detected',
    allocation: 'same',
    label: null,
    process: null,
    forwarderPid: 999_999_999 - (index % 1000),
    forwarderStartTime: 1,
    since: '2026-01-01T00:00:00.000Z',
    path: 'exec',
  };
}

function hugeValidRegistry(): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < HUGE_BYTES; i++) {
    const text = JSON.stringify(deadEntry(i));
    parts.push(text);
    size += text.length + 1;
  }
  return `{"version":1,"entries":[${parts.join(',')}]}`;
}

const DAMAGED_REGISTRIES: Array<[string, () => string | Buffer]> = [
  ['truncated', () => '{"version":1,"entries":[{"containerId": tru'],
  ['empty', () => ''],
  ['of the wrong types', () => '{"version":"1","entries":{"a":1}}'],
  ['an array', () => '[1,2,3]'],
  ['binary garbage', () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256))],
  ['a huge (50 MB) valid-looking file', hugeValidRegistry],
  ['a huge (50 MB) run of spaces', () => ' '.repeat(HUGE_BYTES)],
];

describe('a damaged registry under a running forwarder', () => {
  for (const [what, content] of DAMAGED_REGISTRIES) {
    it(`${what}: ports sets it aside with a warning, forwarding goes on, the forwarder's ports come back`, async () => {
      const { stateDir, container, port, pid } = await forwarded();
      const registry = join(stateDir, 'registry.json');
      writeFileSync(registry, content());

      const started = Date.now();
      const ports = await runCliWith(stateDir, ['ports', '--json']);
      expect(ports.exitCode, ports.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(ports.stderr).toContain(registry);
      expect(ports.stderr).toMatch(/moved it to .*registry\.json\.corrupt-/);
      expect(readdirSync(stateDir).some((name) => name.startsWith('registry.json.corrupt-'))).toBe(true);
      expect(() => JSON.parse(readFileSync(registry, 'utf8')) as unknown).not.toThrow();

      expect(processAlive(pid)).toBe(true);
      expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
      // The forwarder puts its own forwards back into the fresh registry.
      await waitForRows(stateDir, container.id, [port], 10_000);
    });
  }

  it('entries of the wrong shape are dropped with a warning, the good ones kept', async () => {
    const { stateDir, container, port } = await forwarded();
    const registry = join(stateDir, 'registry.json');
    const data = JSON.parse(readFileSync(registry, 'utf8')) as { entries: unknown[] };
    data.entries.push({ containerId: 5, hostPort: 'x' }, null, 'nonsense');
    writeFileSync(registry, JSON.stringify(data));
    const ports = await runCliWith(stateDir, ['ports', '--json']);
    expect(ports.exitCode).toBe(0);
    expect(ports.stderr).toMatch(/dropped 3 malformed entries/);
    await waitForRows(stateDir, container.id, [port]);
  });
});

const DAMAGED_MARKERS: Array<[string, (marker: string) => string]> = [
  ['truncated', (marker) => marker.slice(0, 20)],
  ['of the wrong types', (marker) => marker.replace(/"pid":(\d+)/, '"pid":"$1"')],
  ['huge (50 MB)', (marker) => marker.trimEnd() + ' '.repeat(HUGE_BYTES)],
];

describe('a damaged marker of a live forwarder', () => {
  for (const [what, damage] of DAMAGED_MARKERS) {
    it(`${what}: up reuses the forwarder instead of starting a second one, and down still stops it`, async () => {
      const { stateDir, container, port, pid } = await forwarded();
      const marker = join(stateDir, 'forwarders', `${container.id}.json`);
      writeFileSync(marker, damage(readFileSync(marker, 'utf8')));

      expect(await forwardContainer(stateDir, container.id)).toBe(pid);
      const forwarders = await execa('pgrep', ['-f', `__forward-daemon --container-id ${container.id}`], {
        reject: false,
      });
      expect(forwarders.stdout.trim().split('\n').filter(Boolean)).toEqual([String(pid)]);
      expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);

      const down = await runCliWith(stateDir, ['down', '--container-id', container.id]);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(processAlive(pid)).toBe(false);
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('a damaged marker with no forwarder behind it: up starts one and writes a good marker', async () => {
    const stateDir = makeStateDir();
    const container = await startContainer(TEST_IMAGES.debian.tag);
    started.push({ container, stateDir });
    const marker = join(stateDir, 'forwarders', `${container.id}.json`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(stateDir, 'forwarders'), { recursive: true, mode: 0o700 });
    writeFileSync(marker, '{"pid": 1, "startTime": "yesterday"', { mode: 0o600 });
    const pid = await forwardContainer(stateDir, container.id);
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ pid, containerId: container.id });
  });
});
