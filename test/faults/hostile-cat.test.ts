import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, freeHostPort, waitFor } from '../support/containers.js';
import { accepts, exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { startFaultServer } from './support/faults.js';
import { startPidNamespace, type PidNamespace } from './support/remote-engine.js';
import { EXEC_READ_MAX_BYTES, EXEC_READ_TIMEOUT_MS } from '../../src/forwarding/detect/listener-source.js';

const scope = containerScope();
const { stateDir } = scope;

let namespace: PidNamespace | null = null;
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  await namespace?.close();
});

/**
 * A `cat` that does what /tmp/cat-mode says: `flood` writes without end, `hang` never answers,
 * anything else is the real cat. The forwarder reads a remote container's listeners with `cat`.
 */
const HOSTILE_CAT = [
  'cp /bin/cat /bin/realcat',
  `printf '%s\\n' '#!/bin/sh' 'case "$(/bin/realcat /tmp/cat-mode 2>/dev/null)" in' ` +
    `'flood) exec yes portpilot-flood ;;' 'hang) exec sleep 3600 ;;' 'esac' 'exec /bin/realcat "$@"' > /bin/cat.new`,
  'chmod 755 /bin/cat.new',
  'mv /bin/cat.new /bin/cat',
].join(' && ');

async function catMode(containerId: string, mode: 'flood' | 'hang' | 'real'): Promise<void> {
  await execa(DOCKER_COMMAND, ['exec', containerId, 'sh', '-c', `echo ${mode} > /tmp/cat-mode`]);
}

describe('a container whose cat floods or hangs, read through exec (as on a remote engine)', () => {
  it('keeps its ports, logs the bounded reads, and still sees the container stop', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    await startFaultServer(container.id, 'echo', '127.0.0.1', [port]);
    await execa(DOCKER_COMMAND, ['exec', container.id, 'sh', '-c', HOSTILE_CAT]);
    namespace = await startPidNamespace(stateDir);
    const ns = namespace;
    // Held to exec: a mux channel would report the tables itself, and `cat` would never run.
    const up = await ns.cli(['up', '--container-id', container.id, '--auto-forward', '--relay-path', 'exec']);
    const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
    expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
    const rowsNow = async () => {
      const run = await ns.cli(['ports', '--json']);
      return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === container.id);
    };
    await waitFor(async () => (await rowsNow()).length === 1, 15_000, `port ${port} forwarded`);
    const logFile = join(stateDir, 'forwarders', `${container.id}.log`);
    const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    expect(logged()).toMatch(/"listenerSource":"exec"/);

    for (const [mode, bound] of [
      ['flood', `more than ${EXEC_READ_MAX_BYTES} bytes`],
      ['hang', `no answer in ${EXEC_READ_TIMEOUT_MS} ms`],
    ] as const) {
      const loggedBefore = logged().length;
      await catMode(container.id, mode);
      await waitFor(
        () => logged().slice(loggedBefore).includes(bound),
        EXEC_READ_TIMEOUT_MS + 15_000,
        `a read stopped at "${bound}"`,
      );
      // A failed read is no sign of the container going: the port stays, and forwards.
      expect(logged()).not.toMatch(/the container stopped|forwarder stopping/);
      expect((await exchange(port, Buffer.from(mode))).toString()).toBe(mode);
      expect(await rowsNow()).toHaveLength(1);
    }

    // With cat still hanging, the container's stop is seen all the same: the forwarder leaves.
    await execa(DOCKER_COMMAND, ['stop', '--time', '1', container.id]);
    await waitFor(
      () => logged().includes('forwarder stopped'),
      EXEC_READ_TIMEOUT_MS + 20_000,
      'the forwarder to leave',
    );
    expect(logged()).toMatch(/the container stopped/);
    expect(await accepts(port)).toBe(false);
  });
});
