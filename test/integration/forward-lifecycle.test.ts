import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESTART_GRACE_MS } from '../../src/daemon/restart-wait.js';
import { portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, startServer, waitFor, type TestContainer } from '../support/containers.js';
import { accepts, exchange, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { hostLoopbackListens, startTimedServer, timeWhen } from '../support/timed-server.js';

const scope = containerScope();
const { stateDir } = scope;
// The contract: a listener is reachable at its host port within 2 s; one that disappears is withdrawn within 5 s.
const DETECTION_LIMIT_MS = 2_000;
const WITHDRAWAL_LIMIT_MS = 5_000;

async function containerWithForwarder(): Promise<{ container: TestContainer; pid: number }> {
  const container = await scope.start(TEST_IMAGES.debian.tag);
  const { run, line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
  expect(line.outcome, run.stderr).toBe('success');
  return { container, pid: line.forwarder?.pid ?? 0 };
}

async function rowsOf(containerId: string) {
  return (await portsJson(stateDir)).filter((row) => row.containerId === containerId);
}

describe('detection', () => {
  it('forwards a server within 2 s of its listen(), then withdraws it within 5 s of its close()', async () => {
    const { container } = await containerWithForwarder();
    const port = await freeHostPort();
    const server = startTimedServer(container.id, port);
    try {
      const acceptedAt = await timeWhen(() => accepts(port), 15_000, `host port ${port} accepting`);
      expect(acceptedAt - (await server.listened)).toBeLessThan(DETECTION_LIMIT_MS);
      expect((await exchange(port, Buffer.from('through the forward'))).toString()).toBe(
        'through the forward',
      );

      const closedAt = await server.close();
      // Watched from the host's listener table: probing connections would relay into the container,
      // move its socket counters and so hasten the very read whose lateness is measured.
      const withdrawnAt = await timeWhen(
        () => !hostLoopbackListens(port),
        15_000,
        `host port ${port} closed`,
      );
      expect(withdrawnAt - closedAt).toBeLessThan(WITHDRAWAL_LIMIT_MS);
      expect(await accepts(port)).toBe(false);
    } finally {
      await server.close().catch(() => undefined);
    }
    // The listener closes first, then its registry entry is released.
    await waitFor(async () => (await rowsOf(container.id)).length === 0, 2_000, 'the entry released');
  });

  it('forwards declared ports before anything listens, and keeps them', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    const { line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--forward-port',
      String(port),
    ]);
    expect(line.outcome).toBe('success');
    expect(await rowsOf(container.id)).toMatchObject([
      { containerPort: port, hostPort: port, origin: 'declared' },
    ]);
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });
});

describe('one forwarder per container', () => {
  it('up --auto-forward twice reuses the live forwarder', async () => {
    const { container, pid } = await containerWithForwarder();
    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.forwarder?.pid).toBe(pid);
  });

  it('up with a changed request (a new --forward-port) replaces the forwarder, which forwards it', async () => {
    const { container, pid } = await containerWithForwarder();
    const port = await freeHostPort();
    const { line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--forward-port',
      String(port),
    ]);
    expect(line.forwarder?.pid).not.toBe(pid);
    expect(processAlive(pid)).toBe(false);
    expect(await rowsOf(container.id)).toMatchObject([{ containerPort: port, origin: 'declared' }]);
  });

  it('four up runs at once end with exactly one forwarder', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const runs = await Promise.all(
      [1, 2, 3, 4].map(() => runUp(stateDir, ['--container-id', container.id, '--auto-forward'])),
    );
    const pids = new Set(runs.map(({ line }) => line.forwarder?.pid));
    expect(pids.size).toBe(1);
    const forwarders = await execa('pgrep', ['-f', `__forward-daemon --container-id ${container.id}`], {
      reject: false,
    });
    expect(forwarders.stdout.trim().split('\n').filter(Boolean)).toHaveLength(1);
  });
});

describe('faults', () => {
  it('after kill -9 of a forwarder, ports prunes its entries and a new up gets the same host ports', async () => {
    const { container, pid } = await containerWithForwarder();
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    await waitFor(async () => (await rowsOf(container.id)).length === 1, 5_000);

    process.kill(pid, 'SIGKILL');
    await waitFor(() => !processAlive(pid), 5_000);
    expect(await rowsOf(container.id)).toEqual([]);

    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.forwarder?.pid).not.toBe(pid);
    const rows = await waitFor(async () => {
      const current = await rowsOf(container.id);
      return current.length === 1 ? current : null;
    }, 5_000);
    expect(rows[0]).toMatchObject({ containerPort: port, hostPort: port, allocation: 'same' });
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });

  it('docker stop: the forwarder exits on its own and its ports are free', async () => {
    const { container, pid } = await containerWithForwarder();
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    await waitFor(() => accepts(port), 5_000);

    await execa('docker', ['stop', container.id]);
    // It first gives the container RESTART_GRACE_MS to come back (a `docker restart` looks the same).
    await waitFor(() => !processAlive(pid), RESTART_GRACE_MS + 6_000, 'the forwarder to exit');
    expect(await accepts(port)).toBe(false);
    expect(await rowsOf(container.id)).toEqual([]);
  });

  it('a corrupt registry is set aside, and up still works', async () => {
    const registry = join(stateDir, 'registry.json');
    writeFileSync(registry, '{"version":1,"entries":[{"containerId": tru');
    const { container } = await containerWithForwarder();
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    await waitFor(() => accepts(port), 5_000);
    // ports reads under the registry lock, after the forwarder's write of the fresh file.
    expect(await rowsOf(container.id)).toMatchObject([{ containerPort: port, hostPort: port }]);
    expect(() => JSON.parse(readFileSync(registry, 'utf8')) as unknown).not.toThrow();
  });
});

describe('down', () => {
  it('reaps the forwarder, frees its ports and stops the container', async () => {
    const { container, pid } = await containerWithForwarder();
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    await waitFor(() => accepts(port), 5_000);

    const run = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    expect(await accepts(port)).toBe(false);
    expect(await rowsOf(container.id)).toEqual([]);
    const state = await execa('docker', ['inspect', '-f', '{{.State.Running}}', container.id]);
    expect(state.stdout.trim()).toBe('false');
  });

  it('--remove removes the container', async () => {
    const { container, pid } = await containerWithForwarder();
    const run = await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    const inspect = await execa('docker', ['inspect', container.id], { reject: false });
    expect(inspect.exitCode).not.toBe(0);
  });
});
