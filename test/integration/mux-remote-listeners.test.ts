import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createListenerSource } from '../../src/forwarding/detect/listener-source.js';
import { createSocketOwnerFinder } from '../../src/forwarding/detect/socket-owners.js';
import { Docker } from '../../src/runtime/docker.js';
import { localRunner } from '../../src/runtime/process-runner.js';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, startServer, waitFor } from '../support/containers.js';
import { HELLO_FILE_PATH, TEST_IMAGES } from '../support/images.js';
import {
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from '../faults/support/remote-engine.js';

const scope = containerScope();
const HELLO_DIR = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
const docker = new Docker(localRunner);

let ssh: SshEngine;
let namespace: PidNamespace;
let containerId: string;
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
});

const rowsNow = async () => {
  const run = await namespace.cli(['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === containerId);
};

// The forwarder behind DOCKER_HOST=ssh://, in a pid namespace that cannot see the engine's pids: it
// cannot read the container's /proc, so the mux agent reports the listeners and their owners.
beforeAll(async () => {
  const container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'none'] });
  containerId = container.id;
  ssh = await startSshEngine();
  namespace = await startPidNamespace(scope.stateDir);
  const up = await namespace.cli(['up', '--container-id', containerId, '--auto-forward'], ssh.env);
  const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
  expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
});

describe('listeners reported over the mux channel from a container behind DOCKER_HOST=ssh://', () => {
  it('forwards a server started after up within 2 s, names its process as the local path does, and withdraws it within 5 s', async () => {
    const port = await freeHostPort();
    const startedAt = Date.now();
    const server = await startServer(containerId, { port, address: '127.0.0.1', kind: 'http' });
    const row = await waitFor(
      async () => (await rowsNow()).find((r) => r.containerPort === port) ?? null,
      10_000,
      `port ${port} forwarded`,
    );
    // `since` is when the forwarder forwarded it: measured from before the server was started.
    expect(Date.parse(row.since) - startedAt).toBeLessThan(2_000);
    expect(row.path).toBe('mux');

    // The local path's answer for the same socket: this engine is local to the test, not to the forwarder.
    const info = await docker.inspect(containerId);
    if (!info?.running) throw new Error('the container is not running');
    const source = await createListenerSource(docker, info);
    expect(source.kind).toBe('host-proc');
    const inodes = new Set((await source.read()).find((l) => l.port === port)?.sockets.map((s) => s.inode));
    const local = await createSocketOwnerFinder(docker, containerId, info.pid, 'host-proc');
    const expected = `python3 -m http.server --bind 127.0.0.1 --directory ${HELLO_DIR} ${port}`;
    expect([...(await local.find(inodes)).values()]).toEqual([expected]);
    expect(row.process).toBe(expected);

    await server.stop();
    const stoppedAt = Date.now();
    await waitFor(async () => !(await rowsNow()).some((r) => r.containerPort === port), 10_000, 'withdrawn');
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
  });
});
