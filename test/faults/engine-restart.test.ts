import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStateDir, processAlive } from '../support/cli.js';
import { freeHostPort, waitFor } from '../support/containers.js';
import { accepts, httpGet } from '../support/host-client.js';
import { HELLO_FILE_PATH, HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { cpuTicks, forwardContainer, rowsOf, runCliWith, trackConnection } from './support/faults.js';
import { PrivateEngine } from './support/private-engine.js';

const engine = new PrivateEngine();
const stateDir = makeStateDir();
const IMAGE = TEST_IMAGES.busyboxNc.tag;
/** A forwarder that waits for an engine may use at most this share of one CPU. */
const MAX_CPU_SHARE = 0.1;
const TICKS_PER_SECOND = 100;

beforeAll(async () => {
  await engine.start({ liveRestore: false });
  await engine.loadImage(IMAGE);
});

afterAll(async () => {
  await engine.destroy();
  // The shared engine's containers need its bridge: a second engine must never take it away.
  expect(existsSync('/sys/class/net/docker0'), 'the shared engine keeps its docker0 bridge').toBe(true);
});

/**
 * A container that serves HELLO_FILE_PATH on its own 127.0.0.1:port from its main process, so that
 * the server comes back whenever the engine restarts the container (restart policy `always`).
 */
async function startServingContainer(port: number): Promise<string> {
  const dir = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
  const main = `httpd -f -p 127.0.0.1:${port} -h ${dir} & trap "exit 0" TERM; while sleep 1 & wait $!; do :; done`;
  const run = await engine.docker([
    'run',
    '--detach',
    '--network',
    'none',
    '--restart',
    'always',
    '--label',
    'portpilot.test=1',
    IMAGE,
    'sh',
    '-c',
    main,
  ]);
  if (run.exitCode !== 0) throw new Error(`docker run on the private engine failed: ${run.stderr}`);
  return run.stdout.trim();
}

async function isRunning(containerId: string): Promise<boolean> {
  const inspect = await engine.docker(['inspect', '--format', '{{.State.Running}}', containerId]);
  return inspect.stdout.trim() === 'true';
}

function serves(port: number): Promise<boolean> {
  return httpGet(port, '/hello.txt').then(
    (response) => response.body === HELLO_FILE_TEXT,
    () => false,
  );
}

/** CPU share of one core the process used over `ms` (0 if it exited meanwhile). */
async function cpuShareOver(pid: number, ms: number): Promise<number> {
  const before = cpuTicks(pid);
  await sleep(ms);
  if (!processAlive(pid)) return 0;
  return (cpuTicks(pid) - before) / TICKS_PER_SECOND / (ms / 1000);
}

describe('the engine stopped and started under a running forwarder', () => {
  it('without live-restore: the forwarder exits cleanly with its container, and up restores the port', async () => {
    const port = await freeHostPort();
    const containerId = await startServingContainer(port);
    const pid = await forwardContainer(stateDir, containerId, [], engine.env);
    await waitFor(() => serves(port), 10_000, `port ${port} to serve through the forwarder`);

    await engine.stop();
    // The engine took its containers down with it: the forwarder must leave, freeing its port,
    // without spinning while the engine is away.
    await waitFor(() => !processAlive(pid), 15_000, 'the forwarder to exit');
    expect(await accepts(port)).toBe(false);
    expect(await rowsOf(stateDir, containerId)).toEqual([]);

    await engine.start({ liveRestore: false });
    await waitFor(() => isRunning(containerId), 30_000, 'the container to be restarted by its policy');
    const newPid = await forwardContainer(stateDir, containerId, [], engine.env);
    expect(newPid).not.toBe(pid);
    await waitFor(() => serves(port), 10_000, `port ${port} to serve again`);
    expect(await rowsOf(stateDir, containerId)).toMatchObject([
      { containerPort: port, hostPort: port, allocation: 'same', forwarderPid: newPid },
    ]);
    await runCliWith(stateDir, ['down', '--container-id', containerId, '--remove'], engine.env);
    expect(processAlive(newPid)).toBe(false);
  });

  it('with live-restore: the forwarder keeps its port, refuses connections quickly while the engine is away, resumes, and never spins', async () => {
    await engine.stop();
    await engine.start({ liveRestore: true });
    const port = await freeHostPort();
    const containerId = await startServingContainer(port);
    const pid = await forwardContainer(stateDir, containerId, [], engine.env);
    await waitFor(() => serves(port), 10_000, `port ${port} to serve through the forwarder`);
    const idleShare = await cpuShareOver(pid, 3_000);

    await engine.stop();
    expect(await isRunningOnHost(containerId)).toBe(true);
    // The container lives on, so the forward stays; a connection cannot be relayed while the engine
    // is away, and the client learns so at once rather than hanging.
    const connection = await trackConnection(port);
    connection.socket.write('GET /hello.txt HTTP/1.0\r\n\r\n');
    await connection.ended(10_000);
    const awayShare = await cpuShareOver(pid, 5_000);
    expect(processAlive(pid)).toBe(true);
    expect(awayShare, `idle share was ${idleShare}`).toBeLessThan(MAX_CPU_SHARE);
    expect(await rowsOf(stateDir, containerId)).toMatchObject([{ containerPort: port, hostPort: port }]);

    await engine.start({ liveRestore: true });
    await waitFor(() => serves(port), 20_000, `port ${port} to serve again once the engine is back`);
    expect((await rowsOf(stateDir, containerId))[0]?.forwarderPid).toBe(pid);

    // Removing the container frees the port: no forwarder outlives its container.
    await engine.docker(['rm', '-f', containerId]);
    await waitFor(() => !processAlive(pid), 10_000, 'the forwarder to exit after rm -f');
    expect(await accepts(port)).toBe(false);
    expect(await rowsOf(stateDir, containerId)).toEqual([]);
  });
});

/** Whether the container's main process still runs, seen from the host (the engine may be down). */
async function isRunningOnHost(containerId: string): Promise<boolean> {
  const { execa } = await import('execa');
  const found = await execa('pgrep', ['-f', `containerd-shim.*${containerId}`], { reject: false });
  return found.stdout.trim() !== '';
}
