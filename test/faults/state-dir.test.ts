import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeStateDir, processAlive, runCli } from '../support/cli.js';
import {
  freeHostPort,
  removeThisRunsTestContainers,
  startContainer,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { accepts, exchange, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { forwardContainer, rowsOf, runCliWith, sh, upWith, waitForRows } from './support/faults.js';

const started: TestContainer[] = [];
const stateDirs: string[] = [];
const mounts: string[] = [];
const immutable: string[] = [];

afterEach(async () => {
  for (const path of immutable.splice(0)) await sh(`chattr -i '${path}'`).catch(() => undefined);
});

afterAll(async () => {
  for (const path of immutable.splice(0)) await sh(`chattr -i '${path}'`).catch(() => undefined);
  for (const container of started) {
    for (const stateDir of stateDirs) {
      await runCli(stateDir, ['down', '--container-id', container.id, '--remove']).catch(() => undefined);
    }
  }
  await removeThisRunsTestContainers();
  for (const mount of mounts.reverse()) await sh(`umount -l '${mount}'`).catch(() => undefined);
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

async function tmpfsStateDir(options: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-faults-tmpfs-'));
  stateDirs.push(dir);
  await sh(`mount -t tmpfs -o ${options},mode=0700 tmpfs '${dir}'`);
  mounts.push(dir);
  return dir;
}

async function debianContainer(): Promise<TestContainer> {
  const container = await startContainer(TEST_IMAGES.debian.tag);
  started.push(container);
  return container;
}

/** Asserts an `up` failure line: outcome error, naming the dir, with a fix. */
function expectStateDirError(line: { outcome: string; message?: string; description?: string }, dir: string) {
  expect(line.outcome).toBe('error');
  expect(line.message).toContain(dir);
  expect(line.description).toMatch(/--state-dir|PORTPILOT_STATE_DIR/);
}

describe('a read-only state dir', () => {
  it('up fails with a JSON error naming the dir and the fix; so does ports', async () => {
    const dir = await tmpfsStateDir('size=1m');
    await sh(`mount -o remount,ro '${dir}'`);
    const container = await debianContainer();

    const { run, line } = await upWith(dir, ['--container-id', container.id, '--auto-forward']);
    expect(run.exitCode).toBe(1);
    expectStateDirError(line, dir);
    expect(line.message).toMatch(/read-only/);

    const ports = await runCliWith(dir, ['ports']);
    expect(ports.exitCode).toBe(1);
    expect(ports.stderr).toContain(dir);
    expect(ports.stderr).toMatch(/read-only/);
    expect(ports.stderr).toMatch(/--state-dir|PORTPILOT_STATE_DIR/);
  });

  it('a state dir that is missing and cannot be created: up and ports name it and the fix', async () => {
    const parent = await tmpfsStateDir('size=1m');
    await sh(`mount -o remount,ro '${parent}'`);
    const dir = join(parent, 'portpilot');
    const container = await debianContainer();

    const { line } = await upWith(dir, ['--container-id', container.id, '--auto-forward']);
    expectStateDirError(line, dir);
    const ports = await runCliWith(dir, ['ports', '--json']);
    expect(ports.exitCode).toBe(1);
    expect(ports.stderr).toContain(dir);
    expect(ports.stderr).toMatch(/--state-dir|PORTPILOT_STATE_DIR/);
  });

  it('a running forwarder whose state dir turns read-only keeps forwarding, and catches up once it is writable', async () => {
    const stateDir = makeStateDir();
    stateDirs.push(stateDir);
    const container = await debianContainer();
    const first = await freeHostPort();
    const second = await freeHostPort();
    await startServer(container.id, { port: first, address: '127.0.0.1', kind: 'http' });
    const pid = await forwardContainer(stateDir, container.id);
    await waitForRows(stateDir, container.id, [first]);

    // Root ignores mode bits, and a mount with files open for writing cannot be remounted
    // read-only: the immutable attribute is what makes a directory unwritable even for root.
    for (const path of [stateDir, join(stateDir, 'forwarders')]) {
      await sh(`chattr +i '${path}'`);
      immutable.push(path);
    }
    await startServer(container.id, { port: second, address: '127.0.0.1', kind: 'http' });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(processAlive(pid)).toBe(true);
    expect((await httpGet(first, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);

    const ports = await runCliWith(stateDir, ['ports']);
    expect(ports.exitCode).toBe(1);
    expect(ports.stderr).toContain(stateDir);
    const { line } = await upWith(stateDir, ['--container-id', container.id, '--auto-forward']);
    expectStateDirError(line, stateDir);

    for (const path of immutable.splice(0)) await sh(`chattr -i '${path}'`);
    await waitForRows(stateDir, container.id, [first, second], 15_000);
    expect((await httpGet(second, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(processAlive(pid)).toBe(true);
  });
});

describe('a full disk under the state dir', () => {
  it('up fails with a JSON error naming the dir and the fix', async () => {
    const dir = await tmpfsStateDir('size=64k');
    await sh(`dd if=/dev/zero of='${dir}/filler' bs=4k 2>/dev/null || true`);
    const container = await debianContainer();

    const { run, line } = await upWith(dir, ['--container-id', container.id, '--auto-forward']);
    expect(run.exitCode).toBe(1);
    expectStateDirError(line, dir);
    expect(`${line.message} ${line.description}`).toMatch(/no space left|full/i);
  });

  it('a running forwarder keeps forwarding while the disk is full, and catches up once there is room', async () => {
    const dir = await tmpfsStateDir('size=64k');
    const container = await debianContainer();
    const first = await freeHostPort();
    const second = await freeHostPort();
    // Declared, and nothing listens on it: every connection is a relay failure the forwarder logs.
    const unserved = await freeHostPort();
    await startServer(container.id, { port: first, address: '127.0.0.1', kind: 'http' });
    const pid = await forwardContainer(dir, container.id, ['--forward-port', String(unserved)]);
    await waitForRows(dir, container.id, [first, unserved]);

    await sh(`dd if=/dev/zero of='${dir}/filler' bs=1k 2>/dev/null || true`);
    await startServer(container.id, { port: second, address: '127.0.0.1', kind: 'http' });
    // Events and relay failures make the forwarder write to its log and registry: all of it fails.
    for (let i = 0; i < 30; i++) await exchange(unserved, Buffer.from('hello')).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(processAlive(pid)).toBe(true);
    expect((await httpGet(first, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    const ports = await runCliWith(dir, ['ports', '--json']);
    expect(ports.exitCode === 0 || ports.stderr.includes(dir), ports.stderr).toBe(true);

    rmSync(join(dir, 'filler'));
    await waitForRows(dir, container.id, [first, second, unserved], 15_000);
    expect((await httpGet(second, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(processAlive(pid)).toBe(true);
  });
});

describe('a state dir deleted under a running forwarder', () => {
  it('the forwarder keeps forwarding, new ports are registered again, and down still stops it', async () => {
    const stateDir = makeStateDir();
    stateDirs.push(stateDir);
    const container = await debianContainer();
    const first = await freeHostPort();
    const second = await freeHostPort();
    await startServer(container.id, { port: first, address: '127.0.0.1', kind: 'http' });
    const pid = await forwardContainer(stateDir, container.id);
    await waitForRows(stateDir, container.id, [first]);

    rmSync(stateDir, { recursive: true, force: true });
    await startServer(container.id, { port: second, address: '127.0.0.1', kind: 'http' });
    await waitFor(
      async () => (await rowsOf(stateDir, container.id)).some((row) => row.containerPort === second),
      10_000,
      `port ${second} to be registered in the new state dir`,
    );
    expect((await httpGet(first, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect((await httpGet(second, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(readdirSync(stateDir)).toContain('registry.json');

    const down = await runCliWith(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    expect(await accepts(first)).toBe(false);
    expect(await accepts(second)).toBe(false);
  });
});
