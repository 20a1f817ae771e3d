import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive, type PortRow } from '../support/cli.js';
import { deterministicBytes, freeHostPort, waitFor } from '../support/containers.js';
import { DEBIAN_IMAGE } from '../support/images.js';
import {
  LARGE_BYTES,
  execIn,
  hostProcessesNaming,
  startFirstCloser,
  startLoopbackServer,
  itCarriesConnectionsOverOneChannel,
} from '../support/mux-checks.js';
import { podmanText, removePodmanContainer, startPodmanContainer } from '../support/podman.js';
import {
  makeUserStateDir,
  rootlessPodman,
  rootlessUser,
  runCliAsUser,
  runUpAsUser,
} from '../support/rootless.js';
import { hostLoopbackListens } from '../support/timed-server.js';
import { UDP_ECHO_SERVER, expectEchoedToEachSender, freeServerPort } from '../support/udp.js';

const user = rootlessUser();
const engine = rootlessPodman(user);
const stateDir = makeUserStateDir(user);
const fromContainer = deterministicBytes(LARGE_BYTES, 'rootless-mux-out');
let containerId = '';
let forwarderPid = 0;
let logFile = '';
let echo: number;
let sink: number;
let first: number;
let udpEcho: number;
let firstCloser: { heard(): Promise<string> };

afterAll(async () => {
  if (!containerId) return;
  await runCliAsUser(user, stateDir, ['down', '--container-id', containerId, '--docker-path', 'podman']);
  await removePodmanContainer(engine, containerId);
});

const notes = () =>
  (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
    .split('\n')
    .filter((line) => !line.includes('"portEvent"'))
    .join('\n');
const allRowsNow = async () => {
  const run = await runCliAsUser(user, stateDir, ['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === containerId);
};
const rowsNow = async () => (await allRowsNow()).filter((row) => row.protocol === 'tcp');
const udpRowsNow = async () => (await allRowsNow()).filter((row) => row.protocol === 'udp');

// slirp4netns gives the container no address the host can dial: no direct path, no relay agent. The
// user's own namespace helper would come first (see podman-rootless.test.ts): the channel is asked for.
beforeAll(async () => {
  containerId = await startPodmanContainer(engine, DEBIAN_IMAGE);
  [echo, sink, first] = [await freeHostPort(), await freeHostPort(), await freeHostPort()];
  await startLoopbackServer(engine, containerId, 'echo', echo);
  await startLoopbackServer(engine, containerId, 'sink-sha256', sink);
  firstCloser = await startFirstCloser(engine, containerId, first, fromContainer);
  udpEcho = await freeServerPort();
  await execIn(
    engine,
    containerId,
    ['python3', '-c', UDP_ECHO_SERVER, '127.0.0.1', String(udpEcho)],
    undefined,
    ['-d'],
  );
  const { run, line } = await runUpAsUser(user, stateDir, [
    '--container-id',
    containerId,
    '--auto-forward',
    '--docker-path',
    'podman',
    '--relay-path',
    'mux',
  ]);
  expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId });
  forwarderPid = line.forwarder?.pid ?? 0;
  logFile = line.forwarder?.logFile ?? '';
  await waitFor(async () => (await rowsNow()).length === 3, 15_000, 'three ports forwarded');
  await waitFor(async () => (await udpRowsNow()).length === 1, 15_000, 'the UDP port forwarded');
});

describe("the mux channel on a user's rootless Podman (slirp4netns)", () => {
  it('is the path of loopback-bound servers with --relay-path mux', async () => {
    expect((await rowsNow()).map((row) => row.path)).toEqual(['mux', 'mux', 'mux']);
  });

  itCarriesConnectionsOverOneChannel(() => ({
    engine: engine,
    containerId,
    echo,
    sink,
    first,
    firstCloser,
    fromContainer,
    label: 'rootless',
    notes,
    paths: async () => (await rowsNow()).map((row) => row.path),
  }));

  it('carries UDP sessions too: 400 datagrams of 1 to 65,507 bytes from 20 clients, each reply to its sender', async () => {
    expect(await udpRowsNow()).toMatchObject([{ containerPort: udpEcho, hostPort: udpEcho, path: 'mux' }]);
    await expectEchoedToEachSender(udpEcho, 20, 20, 'udp echo via mux on rootless podman');
  });

  it('leaves nothing after down: no forwarder, no exec of the container, host ports free', async () => {
    expect(processAlive(forwarderPid)).toBe(true);
    const down = await runCliAsUser(user, stateDir, [
      'down',
      '--container-id',
      containerId,
      '--docker-path',
      'podman',
    ]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(forwarderPid)).toBe(false);
    for (const port of [echo, sink, first]) expect(hostLoopbackListens(port)).toBe(false);
    expect(await udpRowsNow()).toEqual([]);
    // down stops the container: every exec in it ends with it; no `podman exec` or conmon may live on.
    expect(await podmanText(engine, ['inspect', '-f', '{{.State.Running}}', containerId])).toBe('false');
    await waitFor(() => hostProcessesNaming(containerId).length === 0, 10_000, 'no exec left').catch(() =>
      expect(hostProcessesNaming(containerId)).toEqual([]),
    );
    expect(await allRowsNow()).toEqual([]);
  });
});
