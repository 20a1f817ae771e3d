import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, deterministicBytes, freeHostPort, waitFor } from '../support/containers.js';
import { TEST_IMAGES } from '../support/images.js';
import {
  LARGE_BYTES,
  hostProcessesNaming,
  startFirstCloser,
  startLoopbackServer,
  itCarriesConnectionsOverOneChannel,
} from '../support/mux-checks.js';
import { hostLoopbackListens } from '../support/timed-server.js';
import {
  forwarderHostPid,
  sshClientPids,
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from '../faults/support/remote-engine.js';

const scope = containerScope();
const { stateDir } = scope;
// The engine is this machine's: the test reaches the container with the local CLI, the forwarder over SSH.
const ENGINE = [DOCKER_COMMAND];

let ssh: SshEngine;
let namespace: PidNamespace;
let containerId: string;
let echo: number;
let sink: number;
let first: number;
let firstCloser: { heard(): Promise<string> };
const fromContainer = deterministicBytes(LARGE_BYTES, 'ssh-mux-out');
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
});

const notes = () => {
  const file = join(stateDir, 'forwarders', `${containerId}.log`);
  const log = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return log
    .split('\n')
    .filter((line) => !line.includes('"portEvent"'))
    .join('\n');
};
const rowsNow = async () => {
  const run = await namespace.cli(['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === containerId);
};

// A container on no network behind DOCKER_HOST=ssh://, forwarded from a pid namespace that cannot see
// the engine's pids: no direct dial, no relay agent; connections should take the mux channel.
beforeAll(async () => {
  const container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'none'] });
  containerId = container.id;
  [echo, sink, first] = [await freeHostPort(), await freeHostPort(), await freeHostPort()];
  await startLoopbackServer(ENGINE, containerId, 'echo', echo);
  await startLoopbackServer(ENGINE, containerId, 'sink-sha256', sink);
  firstCloser = await startFirstCloser(ENGINE, containerId, first, fromContainer);
  ssh = await startSshEngine();
  namespace = await startPidNamespace(stateDir);
  const up = await namespace.cli(['up', '--container-id', containerId, '--auto-forward'], ssh.env);
  const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
  expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
  await waitFor(async () => (await rowsNow()).length === 3, 15_000, 'three ports forwarded');
});

describe('the mux channel to a container behind DOCKER_HOST=ssh:// that the host cannot route to', () => {
  it('is the path of loopback-bound servers without --relay-path', async () => {
    const rows = await rowsNow();
    expect(rows.map((row) => row.path)).toEqual(['mux', 'mux', 'mux']);
    expect(notes()).toMatch(/one SSH link carries every engine call/);
  });

  itCarriesConnectionsOverOneChannel(() => ({
    engine: ENGINE,
    containerId,
    echo,
    sink,
    first,
    firstCloser,
    fromContainer,
    label: 'ssh',
    notes,
    paths: async () => (await rowsNow()).map((row) => row.path),
  }));

  it('leaves nothing after down: no forwarder, no ssh link, no exec of the container, host ports free', async () => {
    expect(forwarderHostPid(containerId)).not.toBeNull();
    const down = await namespace.cli(['down', '--container-id', containerId], ssh.env);
    expect(down.exitCode, down.stderr).toBe(0);
    await waitFor(() => forwarderHostPid(containerId) === null, 10_000, 'the forwarder to exit');
    await waitFor(() => sshClientPids(ssh.port).length === 0, 10_000, 'the ssh link to close');
    // down stops the container: every exec in it ends with it; none may live on in a client.
    const state = await execa(DOCKER_COMMAND, ['inspect', '-f', '{{.State.Running}}', containerId]);
    expect(state.stdout.trim()).toBe('false');
    await waitFor(() => hostProcessesNaming(containerId).length === 0, 10_000, 'no engine client left').catch(
      () => expect(hostProcessesNaming(containerId)).toEqual([]),
    );
    for (const port of [echo, sink, first]) expect(hostLoopbackListens(port)).toBe(false);
  });
});
