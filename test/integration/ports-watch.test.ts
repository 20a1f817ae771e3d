import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, startContainer, startServer, waitFor } from '../support/containers.js';
import { accepts } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

interface WatchedEvent {
  type: 'forwarded' | 'withdrawn' | 'failed';
  at: string;
  containerId: string;
  containerPort: number;
  hostPort: number | null;
  reason?: string;
}

describe('ports --watch --json', () => {
  it('streams one JSON event a line as ports are forwarded and withdrawn', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.outcome).toBe('success');

    const watcher = execa(
      process.execPath,
      [CLI, 'ports', '--watch', '--json', '--container-id', container.id],
      {
        env: { PORTPILOT_STATE_DIR: stateDir },
        reject: false,
      },
    );
    const events: WatchedEvent[] = [];
    let buffered = '';
    watcher.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const text of lines) events.push(JSON.parse(text) as WatchedEvent);
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // the watcher is running
      const port = await freeHostPort();
      const server = await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
      await waitFor(() => events.find((e) => e.type === 'forwarded' && e.containerPort === port), 5_000);
      await server.stop();
      await waitFor(() => events.find((e) => e.type === 'withdrawn' && e.containerPort === port), 8_000);
      const forwarded = events.find((e) => e.type === 'forwarded');
      expect(forwarded).toMatchObject({ containerId: container.id, containerPort: port, hostPort: port });
      expect(Number.isNaN(Date.parse(forwarded?.at ?? ''))).toBe(false);
    } finally {
      watcher.kill('SIGINT');
      await watcher;
    }
    expect(watcher.exitCode ?? 0).toBe(0);
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
