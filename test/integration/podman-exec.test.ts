import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStateDir, portsJson, runCli, runUp } from '../support/cli.js';
import { freeHostPort, waitFor } from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { BUSYBOX_NC_IMAGE, HELLO_FILE_PATH, HELLO_FILE_TEXT } from '../support/images.js';

/** Connections relayed through the exec path, each one exec in the container. */
const CONNECTIONS = 50;
const KEEP_ALIVE_SCRIPT = 'trap "exit 0" TERM; while sleep 1 & wait $!; do :; done';

async function podman(args: readonly string[]): Promise<string> {
  return (await execa('podman', args)).stdout.trim();
}

/** A Podman container of the busybox image serving the hello file over http on its loopback. */
async function startPodmanContainer(): Promise<{ id: string; port: number }> {
  const id = await podman([
    'run',
    '--detach',
    '--name',
    `portpilot-test-podman-${randomBytes(3).toString('hex')}`,
    // Debian's Podman cannot apply its default limits here ("error setting rlimit type 7").
    '--ulimit',
    'nofile=20000:20000',
    '--ulimit',
    'nproc=4096:4096',
    `localhost/${BUSYBOX_NC_IMAGE}`,
    'sh',
    '-c',
    KEEP_ALIVE_SCRIPT,
  ]);
  const port = await freeHostPort();
  const dir = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
  await podman(['exec', '--detach', id, 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', dir]);
  return { id, port };
}

/**
 * The container's exec sessions Podman still keeps, and the conmon processes that name it: the
 * container's own, its server's (a detached exec) and one pair per exec session still kept.
 */
async function execLeftovers(containerId: string): Promise<{ sessions: number; conmons: number }> {
  const sessions = Number(await podman(['inspect', '--format', '{{len .ExecIDs}}', containerId]));
  const conmons = (await execa('ps', ['-C', 'conmon', '-o', 'args='], { reject: false })).stdout
    .split('\n')
    .filter((args) => args.includes(containerId)).length;
  return { sessions, conmons };
}

describe('a forwarder on Podman relaying exec-path connections', () => {
  const stateDir = makeStateDir();
  const containers: string[] = [];
  let service: ResultPromise;
  let socket: string;

  beforeAll(async () => {
    socket = join(mkdtempSync(join(tmpdir(), 'portpilot-podman-')), 'podman.sock');
    service = execa('podman', ['system', 'service', '--time=0', `unix://${socket}`], { reject: false });
    await waitFor(async () => {
      const ping = await execa('curl', ['-sf', '--unix-socket', socket, 'http://d/_ping'], { reject: false });
      return ping.stdout === 'OK' ? true : null;
    }, 15_000);
  });
  afterAll(async () => {
    for (const id of containers) {
      await runCli(stateDir, ['down', '--container-id', id, '--docker-path', 'podman']);
      await execa('podman', ['rm', '--force', id], { reject: false });
    }
    service?.kill();
  });

  async function relayConnections(port: number): Promise<void> {
    await waitFor(async () => (await portsJson(stateDir)).find((r) => r.containerPort === port), 10_000);
    for (let index = 0; index < CONNECTIONS; index++) {
      expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    }
  }

  it('through the podman CLI, leaves no exec session or conmon behind', async () => {
    const { id, port } = await startPodmanContainer();
    containers.push(id);
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      id,
      '--auto-forward',
      '--relay-path',
      'exec',
      '--docker-path',
      'podman',
    ]);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: id });
    const before = await execLeftovers(id);
    await relayConnections(port);
    await waitFor(async () => {
      const after = await execLeftovers(id);
      return after.sessions <= before.sessions && after.conmons <= before.conmons ? after : null;
    }, 10_000);
  });

  it('through its Docker-compatible socket, runs execs with the podman CLI and leaves nothing behind', async () => {
    const { id, port } = await startPodmanContainer();
    containers.push(id);
    // Before `up`: the forwarder's own probes are execs too.
    const before = await execLeftovers(id);
    const { run, line } = await runUp(
      stateDir,
      ['--container-id', id, '--auto-forward', '--relay-path', 'exec'],
      { DOCKER_HOST: `unix://${socket}` },
    );
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: id });
    const log = () => readFileSync(line.forwarder?.logFile ?? '', 'utf8');
    expect(log()).toContain("the engine is Podman: execs go through 'podman exec'");
    await relayConnections(port);
    await waitFor(async () => {
      const after = await execLeftovers(id);
      return after.sessions <= before.sessions && after.conmons <= before.conmons ? after : null;
    }, 10_000);
    expect(log()).not.toMatch(/cannot be asked to remove them/);
  });
});
