import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { afterAll, describe, expect, it } from 'vitest';
import { readProcessStartTime } from '../../src/common/process-info.js';
import { copyWorkspace } from '../fixtures/workspaces/workspace-fixture.js';
import { makeStateDir, processAlive, runCli } from '../support/cli.js';
import {
  freeHostPort,
  removeThisRunsTestContainers,
  startContainer,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { forwardContainer, hostListenAddresses, runCliWith, upWith, waitForRows } from './support/faults.js';

const started: { container: TestContainer; stateDir: string }[] = [];
const workspaces: { folder: string; stateDir: string }[] = [];
const sleepers: number[] = [];
const NOBODY_UID = 65534;

afterAll(async () => {
  for (const pid of sleepers) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const { folder, stateDir } of workspaces)
    await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
  for (const { container, stateDir } of started)
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  await removeThisRunsTestContainers();
});

async function debianContainer(stateDir: string): Promise<TestContainer> {
  const container = await startContainer(TEST_IMAGES.debian.tag);
  started.push({ container, stateDir });
  return container;
}

function nonLoopbackAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  throw new Error('this host has no non-loopback IPv4 address to try --host-address with');
}

describe('host listeners', () => {
  it('bind loopback only, whatever the relay path: /proc/net/tcp{,6} shows no wildcard for any forwarded port', async () => {
    const stateDir = makeStateDir();
    const container = await debianContainer(stateDir);
    const loopback = await freeHostPort();
    const wildcard = await freeHostPort();
    const declared = await freeHostPort();
    await startServer(container.id, { port: loopback, address: '127.0.0.1', kind: 'http' });
    await startServer(container.id, { port: wildcard, address: '0.0.0.0', kind: 'http' });
    await forwardContainer(stateDir, container.id, ['--forward-port', String(declared)]);
    const rows = await waitForRows(stateDir, container.id, [loopback, wildcard, declared]);
    for (const row of rows) {
      expect(row.hostAddress).toBe('127.0.0.1');
      const addresses = hostListenAddresses(row.hostPort);
      expect(addresses.length, `listeners on ${row.hostPort}`).toBeGreaterThan(0);
      for (const address of addresses) expect(['127.0.0.1', '::1']).toContain(address);
    }
  });

  it('up --host-address with a non-loopback address works only as asked, and warns on stderr', async () => {
    const stateDir = makeStateDir();
    const container = await debianContainer(stateDir);
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    const address = nonLoopbackAddress();
    const { run, line } = await upWith(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--host-address',
      address,
    ]);
    expect(line.outcome, run.stderr).toBe('success');
    expect(run.stderr).toMatch(/warning/i);
    expect(run.stderr).toContain(address);
    expect(run.stderr).toMatch(/not a loopback address/);
    const [row] = await waitForRows(stateDir, container.id, [port]);
    expect(row?.hostAddress).toBe(address);
    expect(hostListenAddresses(row?.hostPort ?? 0)).toEqual([address]);
    expect((await httpGet(row?.hostPort ?? 0, '/hello.txt', address)).body).toBe(HELLO_FILE_TEXT);
    await runCli(stateDir, ['down', '--container-id', container.id]);

    // The loopback default says nothing; an address that is not one is refused.
    const other = await debianContainer(stateDir);
    const quiet = await upWith(stateDir, ['--container-id', other.id, '--auto-forward']);
    expect(quiet.run.stderr).not.toMatch(/warning/i);
    const bad = await upWith(stateDir, [
      '--container-id',
      other.id,
      '--auto-forward',
      '--host-address',
      'my-host',
    ]);
    expect(bad.line.outcome).toBe('error');
    expect(bad.line.message).toContain('my-host');
  });
});

describe('the state dir', () => {
  it('is 0700 with every directory in it 0700 and every file 0600, logs and rotated logs included', async () => {
    const stateDir = makeStateDir();
    chmodSync(stateDir, 0o755);
    const env = { PORTPILOT_LOG_ROTATE_BYTES: '1500' };
    const container = await debianContainer(stateDir);
    // A folder and a log left open to all (by an older version, by hand) are made private again.
    mkdirSync(join(stateDir, 'forwarders'));
    chmodSync(join(stateDir, 'forwarders'), 0o777);
    writeFileSync(join(stateDir, 'forwarders', `${container.id}.log`), '', { mode: 0o644 });
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) {
      const port = await freeHostPort();
      ports.push(port);
      await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    }
    await forwardContainer(stateDir, container.id, [], env);
    await waitForRows(stateDir, container.id, ports);
    // A workspace adds its own folder of state.
    const port = await freeHostPort();
    const folder = copyWorkspace('image', { PORT: String(port) });
    workspaces.push({ folder, stateDir });
    const up = await upWith(stateDir, ['--workspace-folder', folder, '--auto-forward'], env);
    expect(up.line.outcome, up.run.stderr).toBe('success');
    // A damaged registry leaves a copy set aside. Written under the registry's lock, as a forwarder
    // may be rewriting the registry meanwhile and would replace an unlocked write.
    const release = await lockfile.lock(join(stateDir, 'registry.json'), {
      realpath: false,
      retries: { retries: 100, minTimeout: 20, maxTimeout: 100 },
    });
    writeFileSync(join(stateDir, 'registry.json'), '{');
    await release();
    await runCliWith(stateDir, ['ports']);
    await waitFor(
      () => readdirSync(join(stateDir, 'forwarders')).some((name) => name.endsWith('.log.1')),
      20_000,
      'a rotated log',
    );

    const seen: string[] = [];
    // Forwarders keep writing while we look: a temporary file may go between readdir and lstat.
    const walk = (path: string) => {
      const stats = lstatSync(path, { throwIfNoEntry: false });
      if (stats === undefined) return;
      seen.push(path);
      if (stats.isDirectory()) {
        expect((stats.mode & 0o777).toString(8), path).toBe('700');
        let names: string[] = [];
        try {
          names = readdirSync(path);
        } catch {
          return; // a lock directory, released meanwhile
        }
        for (const name of names) walk(join(path, name));
      } else {
        expect(stats.isFile(), `${path} is a regular file`).toBe(true);
        expect((stats.mode & 0o777).toString(8), path).toBe('600');
      }
    };
    walk(stateDir);
    for (const kind of ['registry.json', 'registry.json.corrupt-', '.json', '.log', '.log.1', '.spec.json']) {
      expect(
        seen.some((path) => path.includes(kind)),
        `a ${kind} file`,
      ).toBe(true);
    }
  });

  it('owned by another user: up and ports refuse it, naming the owner and the fix', async () => {
    const stateDir = makeStateDir();
    const container = await debianContainer(stateDir);
    chownSync(stateDir, NOBODY_UID, NOBODY_UID);
    const { line } = await upWith(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.outcome).toBe('error');
    expect(line.message).toContain(stateDir);
    expect(line.message).toContain(`uid ${NOBODY_UID}`);
    expect(line.description).toMatch(/--state-dir|PORTPILOT_STATE_DIR/);
    const ports = await runCliWith(stateDir, ['ports']);
    expect(ports.exitCode).toBe(1);
    expect(ports.stderr).toContain(`uid ${NOBODY_UID}`);
  });

  it('under a world-writable, non-sticky directory, or one of another user: up and ports refuse it, naming that directory and the fix', async () => {
    const container = await debianContainer(makeStateDir());
    const open = join(makeStateDir(), 'shared');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const theirs = join(makeStateDir(), 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY_UID, NOBODY_UID);
    for (const [parent, problem] of [
      [open, 'is writable by everyone (mode 0777) and not sticky'],
      [theirs, `is owned by uid ${NOBODY_UID}`],
    ] as const) {
      const stateDir = join(parent, 'portpilot');
      const { line } = await upWith(stateDir, ['--container-id', container.id, '--auto-forward']);
      expect(line.outcome).toBe('error');
      expect(line.message).toContain(stateDir);
      expect(line.message).toContain(`${parent} above it ${problem}`);
      expect(line.description).toMatch(/--state-dir|PORTPILOT_STATE_DIR/);
      expect(lstatSync(stateDir, { throwIfNoEntry: false })).toBeUndefined();
      const ports = await runCliWith(stateDir, ['ports']);
      expect(ports.exitCode).toBe(1);
      expect(ports.stderr).toContain(`${parent} above it`);
    }
  });

  for (const planted of ['registry', 'marker', 'log', 'spec'] as const) {
    it(`a symlink planted as the ${planted}: refused with a message naming it, and its target untouched`, async () => {
      const stateDir = makeStateDir();
      const container = await debianContainer(stateDir);
      const target = join(makeStateDir(), 'target');
      writeFileSync(target, 'precious\n', { mode: 0o644 });
      mkdirSync(join(stateDir, 'forwarders'), { mode: 0o700 });
      const base = join(stateDir, 'forwarders', container.id);
      const link = {
        registry: join(stateDir, 'registry.json'),
        marker: `${base}.json`,
        log: `${base}.log`,
        spec: `${base}.spec.json`,
      }[planted];
      symlinkSync(target, link);

      const { line } = await upWith(stateDir, ['--container-id', container.id, '--auto-forward']);
      expect(line.outcome).toBe('error');
      expect(line.message).toContain(link);
      expect(line.message).toMatch(/symlink/);
      if (planted === 'registry') {
        const ports = await runCliWith(stateDir, ['ports']);
        expect(ports.exitCode).toBe(1);
        expect(ports.stderr).toContain(link);
      }
      expect(readFileSync(target, 'utf8')).toBe('precious\n');
      expect(lstatSync(target).mode & 0o777).toBe(0o644);
    });
  }
});

describe('down', () => {
  it('never signals a live program that a marker names, even with the right pid and start time', async () => {
    const stateDir = makeStateDir();
    const container = await debianContainer(stateDir);
    const sleeper = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    sleeper.unref();
    const pid = sleeper.pid ?? 0;
    sleepers.push(pid);
    const startTime = await readProcessStartTime(pid);
    mkdirSync(join(stateDir, 'forwarders'), { recursive: true, mode: 0o700 });
    const marker = {
      pid,
      startTime,
      containerId: container.id,
      containerName: container.name,
      logFile: join(stateDir, 'forwarders', `${container.id}.log`),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(join(stateDir, 'forwarders', `${container.id}.json`), JSON.stringify(marker), {
      mode: 0o600,
    });

    const down = await runCliWith(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    await sleep(500);
    expect(processAlive(pid)).toBe(true);

    // Nor is it taken for the container's forwarder: up starts a real one.
    await runCliWith(stateDir, ['down', '--container-id', container.id, '--remove']);
    const other = await debianContainer(stateDir);
    marker.containerId = other.id;
    writeFileSync(join(stateDir, 'forwarders', `${other.id}.json`), JSON.stringify(marker), { mode: 0o600 });
    const forwarder = await forwardContainer(stateDir, other.id);
    expect(forwarder).not.toBe(pid);
    await runCliWith(stateDir, ['down', '--container-id', other.id]);
    expect(processAlive(pid)).toBe(true);
    expect(processAlive(forwarder)).toBe(false);
  });
});
