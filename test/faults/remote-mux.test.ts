import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, freeHostPort, waitFor } from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { hostLoopbackListens } from '../support/timed-server.js';
import { startFaultServer } from './support/faults.js';
import {
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from './support/remote-engine.js';

const scope = containerScope();
const { stateDir } = scope;

let ssh: SshEngine | null = null;
let namespace: PidNamespace | null = null;
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
});

async function execIds(containerId: string): Promise<string[]> {
  const { stdout } = await execa(DOCKER_COMMAND, ['inspect', '-f', '{{json .ExecIDs}}', containerId]);
  return (JSON.parse(stdout) as string[] | null) ?? [];
}

describe('a remote engine (DOCKER_HOST=ssh://), the container dialled through its mux channel', () => {
  it('carries loopback connections on one exec, and detects a new listener within 2 s with no exec per scan', async () => {
    // On no network: the engine's host cannot route to it, so the link cannot dial it (on a bridge,
    // its loopback servers would take the relay agent over the link).
    const container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'none'] });
    const [port, later] = [await freeHostPort(), await freeHostPort()];
    await startFaultServer(container.id, 'echo', '127.0.0.1', [port]);
    ssh = await startSshEngine();
    namespace = await startPidNamespace(stateDir);
    const ns = namespace;
    const up = await ns.cli(['up', '--container-id', container.id, '--auto-forward'], ssh.env);
    const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
    expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
    const rows = await waitFor(
      async () => {
        const run = await ns.cli(['ports', '--json']);
        const found = (JSON.parse(run.stdout || '[]') as PortRow[]).filter(
          (row) => row.containerId === container.id,
        );
        return found.length === 1 ? found : null;
      },
      15_000,
      `port ${port} forwarded`,
    );
    expect(rows[0]?.path).toBe('mux');
    const log = readFileSync(join(stateDir, 'forwarders', `${container.id}.log`), 'utf8');
    expect(log).toMatch(/"listenerSource":"exec"/);
    expect(log).toMatch(/mux agent \(python3\) in container \w+ running/);
    const echoed = await Promise.all([1, 2, 3, 4, 5].map((i) => exchange(port, Buffer.from(`n${i}`))));
    expect(echoed.map(String)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);

    // The forwarder reads the tables often (every 2 s at least): through exec, that was an exec each.
    const before = new Set(await execIds(container.id));
    await sleep(6_000);
    await startFaultServer(container.id, 'echo', '127.0.0.1', [later]);
    const listening = Date.now();
    await waitFor(() => Promise.resolve(hostLoopbackListens(later)), 5_000, `port ${later} forwarded`);
    expect(Date.now() - listening).toBeLessThan(2_000);
    const started = (await execIds(container.id)).filter((id) => !before.has(id));
    // Only the test's own exec that started the server.
    expect(started.length).toBeLessThanOrEqual(1);
    expect((await exchange(later, Buffer.from('later'))).toString()).toBe('later');
  });
});
