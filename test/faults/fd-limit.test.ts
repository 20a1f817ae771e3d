import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, waitFor } from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { execa } from 'execa';
import { CLI, type UpLine } from '../support/cli.js';
import { rowsOf, startFaultServer, waitForRows } from './support/faults.js';

const scope = containerScope();
const { stateDir } = scope;
/** The forwarder's hard limit on open files: a few dozen of its own, room for about a hundred relays. */
const HARD_NOFILE = 256;
/** The soft limit `up` starts with: the forwarder raises it to the hard one. */
const SOFT_NOFILE = 64;
const FLOOD_CONNECTIONS = 400;
const FLOOD_MS = 8_000;

/** The soft and hard "Max open files" of a live process. */
function openFileLimits(pid: number): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((text) => text.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/).map(Number);
  return { soft: soft ?? NaN, hard: hard ?? NaN };
}

/** `up --auto-forward` from a shell whose open-file limits are low; resolves to the forwarder's pid. */
async function forwardUnderLimit(containerId: string): Promise<number> {
  const limits = `ulimit -Sn ${SOFT_NOFILE} && ulimit -Hn ${HARD_NOFILE} && exec "$0" "$@"`;
  const run = await execa(
    'sh',
    ['-c', limits, process.execPath, CLI, 'up', '--container-id', containerId, '--auto-forward'],
    { env: { PORTPILOT_STATE_DIR: stateDir }, reject: false, timeout: 120_000 },
  );
  const line = JSON.parse(String(run.stdout).trim() || '{}') as UpLine;
  if (line.outcome !== 'success' || !line.forwarder)
    throw new Error(`up failed: ${run.stdout}\n${run.stderr}`);
  return line.forwarder.pid;
}

/**
 * Keeps `count` connections to the port open until stopped: each one the forwarder drops (it cannot
 * accept or relay it when out of descriptors) is opened again, so that it stays out of them.
 */
function flood(port: number, count: number): { stop(): void } {
  let stopped = false;
  const sockets = new Set<Socket>();
  const open = () => {
    if (stopped) return;
    const socket = connect({ host: '127.0.0.1', port });
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      if (!stopped) setTimeout(open, 20);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

describe('a forwarder out of file descriptors', () => {
  it('keeps its ports through a flood of connections, then forwards and detects again', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    const later = await freeHostPort();
    await startFaultServer(container.id, 'echo', '0.0.0.0', [port]);
    const pid = await forwardUnderLimit(container.id);
    // The soft limit is raised to the hard one at start.
    expect(openFileLimits(pid)).toEqual({ soft: HARD_NOFILE, hard: HARD_NOFILE });
    const [before] = await waitForRows(stateDir, container.id, [port]);
    expect(before?.path).toBe('direct');
    expect((await exchange(port, Buffer.from('before'))).toString()).toBe('before');

    const logFile = join(stateDir, 'forwarders', `${container.id}.log`);
    const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const loggedBefore = logged().length;
    const connections = flood(port, FLOOD_CONNECTIONS);
    await sleep(FLOOD_MS);
    const during = logged().slice(loggedBefore);
    const alive = processAlive(pid);
    connections.stop();

    // The flood did run it out of descriptors, and reading the listeners failed for it ...
    expect(during).toMatch(/EMFILE[^\n]*"reading listeners failed"/);
    // ... which is no sign of the container going: the forwarder stays, with its port.
    expect(alive).toBe(true);
    expect(during).not.toMatch(/the container stopped|forwarder stopping/);
    expect(processAlive(pid)).toBe(true);

    const echoed = await waitFor(
      () => exchange(port, Buffer.from('after')).catch(() => null),
      10_000,
      'the port to forward again after the flood',
    );
    expect(echoed.toString()).toBe('after');
    // Detection goes on: a server started after the flood is forwarded.
    await startFaultServer(container.id, 'echo', '0.0.0.0', [later]);
    const rows = await waitForRows(stateDir, container.id, [port, later], 10_000);
    for (const row of rows) expect(row.forwarderPid).toBe(pid);
    expect(rows.find((row) => row.containerPort === port)?.hostPort).toBe(before?.hostPort);
    expect((await exchange(later, Buffer.from('later'))).toString()).toBe('later');
    expect(logged().slice(loggedBefore)).toMatch(/reading listeners works again/);
    expect(await rowsOf(stateDir, container.id)).toHaveLength(2);
  });
});
