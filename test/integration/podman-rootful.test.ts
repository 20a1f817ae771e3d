import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, portsJson, processAlive, runCli, runUp, type PortRow } from '../support/cli.js';
import { deterministicBytes, freeHostPort, waitFor } from '../support/containers.js';
import { exchange, httpGet } from '../support/host-client.js';
import { BUSYBOX_NC_IMAGE, DEBIAN_IMAGE, HELLO_FILE_PATH, HELLO_FILE_TEXT } from '../support/images.js';
import {
  podmanText,
  removePodmanContainer,
  ROOTFUL_PODMAN,
  startPodmanContainer,
} from '../support/podman.js';
import {
  hostLoopbackListens,
  startTimedServer,
  timeWhen,
  type TimedServer,
} from '../support/timed-server.js';

/** The contract's limit for a new listener to be reachable on the host. */
const DETECTION_LIMIT_MS = 2_000;
const TRANSFER_BYTES = 4 * 1024 * 1024;

/** Starts a timed echo server and resolves to how long after its listen() the host port accepted. */
async function detectionMs(
  servers: TimedServer[],
  containerId: string,
  port: number,
  address: string,
  engine: readonly string[],
): Promise<number> {
  const server = startTimedServer(containerId, port, address, engine);
  servers.push(server);
  const listened = await server.listened;
  const forwarded = await timeWhen(() => hostLoopbackListens(port), 10_000, `host port ${port}`);
  return forwarded - listened;
}

/** A forwarded port's row, once `ports` lists it. */
function rowOf(stateDir: string, port: number): Promise<PortRow> {
  return waitFor(
    async () => (await portsJson(stateDir)).find((row) => row.containerPort === port),
    10_000,
    `port ${port} in ports --json`,
  );
}

describe('portpilot on rootful Podman (--docker-path podman)', () => {
  const stateDir = makeStateDir();
  const containers: string[] = [];
  const servers: TimedServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close().catch(() => undefined)));
    for (const id of containers) {
      await runCli(stateDir, ['down', '--container-id', id, '--docker-path', 'podman']);
      await removePodmanContainer(ROOTFUL_PODMAN, id);
    }
  });

  it('forwards new listeners within 2 s on the direct, netns and exec paths, byte-exact; down frees everything', async () => {
    const debian = await startPodmanContainer(ROOTFUL_PODMAN, DEBIAN_IMAGE);
    const busybox = await startPodmanContainer(ROOTFUL_PODMAN, BUSYBOX_NC_IMAGE);
    containers.push(debian, busybox);
    const pids: number[] = [];
    // The busybox container's forwarder is held to exec: without it, the namespace helper serves it.
    for (const [id, forced] of [
      [debian, []],
      [busybox, ['--relay-path', 'exec']],
    ] as const) {
      const { run, line } = await runUp(stateDir, [
        '--container-id',
        id,
        '--auto-forward',
        '--docker-path',
        'podman',
        ...forced,
      ]);
      expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: id });
      pids.push(line.forwarder?.pid ?? 0);
    }

    const [wildcard, loopback, viaExec] = [await freeHostPort(), await freeHostPort(), await freeHostPort()];
    expect(await detectionMs(servers, debian, wildcard, '0.0.0.0', ROOTFUL_PODMAN)).toBeLessThan(
      DETECTION_LIMIT_MS,
    );
    expect(await detectionMs(servers, debian, loopback, '127.0.0.1', ROOTFUL_PODMAN)).toBeLessThan(
      DETECTION_LIMIT_MS,
    );
    const data = deterministicBytes(TRANSFER_BYTES, 'podman-rootful');
    for (const [port, path] of [
      [wildcard, 'direct'],
      [loopback, 'netns'],
    ] as const) {
      expect(await rowOf(stateDir, port)).toMatchObject({ path, hostPort: port, origin: 'detected' });
      expect((await exchange(port, data)).equals(data)).toBe(true);
    }

    // Held to exec (and with neither python3 nor perl for an agent): its loopback server goes by exec.
    const dir = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
    await podmanText(ROOTFUL_PODMAN, [
      'exec',
      '--detach',
      busybox,
      'httpd',
      '-f',
      '-p',
      `127.0.0.1:${viaExec}`,
      '-h',
      dir,
    ]);
    expect(await rowOf(stateDir, viaExec)).toMatchObject({ path: 'exec', hostPort: viaExec });
    expect((await httpGet(viaExec, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);

    for (const id of [debian, busybox]) {
      const down = await runCli(stateDir, ['down', '--container-id', id, '--docker-path', 'podman']);
      expect(down.exitCode, down.stderr).toBe(0);
    }
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    for (const port of [wildcard, loopback, viaExec]) expect(hostLoopbackListens(port)).toBe(false);
    expect(await portsJson(stateDir)).toEqual([]);
    expect(await podmanText(ROOTFUL_PODMAN, ['inspect', '--format', '{{.State.Running}}', debian])).toBe(
      'false',
    );
  });

  it('finds podman on its own when PATH has no docker, and says so on stderr', async () => {
    // A Podman-only machine: node and podman on PATH, no docker.
    const bin = mkdtempSync(join(tmpdir(), 'portpilot-podman-only-'));
    symlinkSync('/usr/bin/podman', join(bin, 'podman'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const env = { PATH: bin };
    const id = await startPodmanContainer(ROOTFUL_PODMAN, BUSYBOX_NC_IMAGE);
    containers.push(id);

    const help = await runCli(stateDir, ['up', '--help'], undefined, env);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('podman when PATH has no docker');

    const { run, line } = await runUp(stateDir, ['--container-id', id, '--auto-forward'], env);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: id });
    expect(
      run.stderr.split('\n').filter((text) => text.includes("no 'docker' on PATH: using 'podman'")),
    ).toHaveLength(1);

    const exec = await runCli(
      stateDir,
      ['exec', '--container-id', id, 'cat', HELLO_FILE_PATH],
      undefined,
      env,
    );
    expect(exec.stdout, exec.stderr).toBe(HELLO_FILE_TEXT.trimEnd());

    const port = await freeHostPort();
    const dir = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
    await podmanText(ROOTFUL_PODMAN, [
      'exec',
      '--detach',
      id,
      'httpd',
      '-f',
      '-p',
      `127.0.0.1:${port}`,
      '-h',
      dir,
    ]);
    expect(await rowOf(stateDir, port)).toMatchObject({ path: 'netns', hostPort: port });
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);

    const down = await runCli(stateDir, ['down', '--container-id', id], undefined, env);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(line.forwarder?.pid ?? 0)).toBe(false);
    expect(hostLoopbackListens(port)).toBe(false);
  });
});
