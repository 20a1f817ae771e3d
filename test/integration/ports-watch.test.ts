import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, startContainer, startServer, waitFor } from '../support/containers.js';
import { accepts } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { startWatch } from '../support/port-watch.js';

const scope = containerScope();
const { stateDir } = scope;

describe('ports --watch --json', () => {
  it('first says it is watching, with the ports forwarded then; then streams one JSON event a line', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.outcome).toBe('success');
    const before = await freeHostPort();
    await startServer(container.id, { port: before, address: '127.0.0.1', kind: 'http' });
    // Its event written: the forwarder binds the host port a moment before it logs the event.
    const logged = () => readFileSync(line.forwarder?.logFile ?? '', 'utf8');
    await waitFor(() => logged().includes(`"port ${before} forwarded"`), 5_000, `port ${before} forwarded`);

    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    try {
      expect(watcher.watching?.ports).toMatchObject([
        { containerId: container.id, containerPort: before, hostPort: before, origin: 'detected' },
      ]);
      expect(Number.isNaN(Date.parse(watcher.watching?.at ?? ''))).toBe(false);
      // The port forwarded before the watch is in that line, not an event.
      expect(watcher.events).toEqual([]);

      // Started the moment the watch says it is watching: its events are all reported.
      const port = await freeHostPort();
      const server = await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
      await waitFor(
        () => watcher.events.find((e) => e.type === 'forwarded' && e.containerPort === port),
        5_000,
      );
      await server.stop();
      await waitFor(
        () => watcher.events.find((e) => e.type === 'withdrawn' && e.containerPort === port),
        8_000,
      );
      expect(watcher.events.map((e) => `${e.containerPort} ${e.type}`)).toEqual([
        `${port} forwarded`,
        `${port} withdrawn`,
      ]);
      const forwarded = watcher.events[0];
      expect(forwarded).toMatchObject({ containerId: container.id, containerPort: port, hostPort: port });
      expect(Number.isNaN(Date.parse(forwarded?.at ?? ''))).toBe(false);
    } finally {
      const { exitCode } = await watcher.stop();
      expect(exitCode ?? 0).toBe(0);
    }
  });

  it('without --json: the table of what is forwarded, then a watching line', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    await waitFor(() => accepts(port), 5_000, `port ${port} forwarded`);
    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: false });
    const { exitCode } = await watcher.stop();
    expect(exitCode ?? 0).toBe(0);
    const [header, row, watching, ...rest] = watcher.output().toString('utf8').split('\n');
    expect(header).toMatch(/^CONTAINER\s+PORT\s+HOST/);
    expect(row).toContain(`127.0.0.1:${port}`);
    expect(watching).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z watching for port events/);
    expect(rest).toEqual(['']);
  });
});

describe('ports (table)', () => {
  it('shows a forwarded port as a row, with the process that listens', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    await waitFor(
      async () => (await portsJson(stateDir, ['--container-id', container.id])).length === 1,
      5_000,
    );
    const run = await runCli(stateDir, ['ports', '--container-id', container.id]);
    expect(run.stdout).toMatch(/^CONTAINER\s+PORT\s+HOST/);
    expect(run.stdout).toContain(`127.0.0.1:${port}`);
    expect(run.stdout).toContain('python3');
  });
});

describe('a container removed under its forwarder', () => {
  it('docker rm -f: the forwarder exits on its own and frees its ports', async () => {
    const container = await startContainer(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    const pid = line.forwarder?.pid ?? 0;
    await waitFor(() => accepts(port), 5_000);
    await execa('docker', ['rm', '-f', container.id]);
    await waitFor(() => !processAlive(pid), 6_000, 'the forwarder to exit');
    expect(await accepts(port)).toBe(false);
    expect(await portsJson(stateDir, ['--container-id', container.id])).toEqual([]);
  });
});
