import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { RESTART_GRACE_MS } from '../../src/daemon/restart-wait.js';
import {
  DOCKER_COMMAND,
  freeHostPort,
  removeContainer,
  startServer,
  waitFor,
} from '../support/containers.js';
import { accepts, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import {
  childPids,
  containerProcesses,
  forwardContainer,
  rowsOf,
  trackConnection,
  waitForRows,
} from './support/faults.js';

const scope = containerScope();
const { stateDir } = scope;
const REPEATS = 3;
/** A network of its own, so that the second container can be given the first one's address. */
const REUSED_NETWORK = 'portpilot-test-reused-address';
const REUSED_SUBNET = '10.213.7.0/24';

describe('docker restart under a forwarder', () => {
  it(`forwarding resumes on the same host port after each of ${REPEATS} restarts`, async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    const wildcardPort = await freeHostPort();
    const startServers = async () => {
      await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
      await startServer(container.id, { port: wildcardPort, address: '0.0.0.0', kind: 'http' });
    };
    await startServers();
    const pid = await forwardContainer(stateDir, container.id);
    await waitForRows(stateDir, container.id, [port, wildcardPort]);
    // The namespace helper starts with the first connection to a loopback-bound port, not before.
    const helpers = () =>
      childPids(pid).filter((child) => {
        try {
          return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('netns-helper');
        } catch {
          return false;
        }
      });
    expect(helpers()).toHaveLength(0);
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(helpers()).toHaveLength(1);
    let helperBefore = helpers()[0];
    const logFile = join(stateDir, 'forwarders', `${container.id}.log`);
    const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

    for (let round = 1; round <= REPEATS; round++) {
      const loggedBefore = logged().length;
      await execa(DOCKER_COMMAND, ['restart', '--time', '1', container.id]);
      // The servers died with the container; start them again, as a dev would.
      await startServers();
      // The forwarder follows the restarted container, even when it looked while the container was
      // down (it waits for the restart); the old namespace helper is ended with the old namespace,
      // and a new one starts in the new namespace with the next loopback connection.
      const outcome = await waitFor(
        () =>
          !processAlive(pid)
            ? 'left'
            : logged().slice(loggedBefore).includes('forwarding to the restarted container')
              ? 'followed'
              : null,
        8_000,
        `the forwarder to follow restart ${round}`,
      );
      expect(outcome).toBe('followed');
      const rows = await waitForRows(stateDir, container.id, [port, wildcardPort], 8_000);
      for (const row of rows) {
        expect(row).toMatchObject({ hostPort: row.containerPort, allocation: 'same', forwarderPid: pid });
      }
      for (const served of [port, wildcardPort]) {
        const response = await waitFor(
          () => httpGet(served, '/hello.txt').catch(() => null),
          8_000,
          `port ${served} to serve again after restart ${round}`,
        );
        expect(response.body).toBe(HELLO_FILE_TEXT);
      }
      // The forwarder now runs one helper, a new one, and nothing in the container.
      expect(helpers()).toHaveLength(1);
      expect(helpers()[0]).not.toBe(helperBefore);
      helperBefore = helpers()[0];
      expect(await containerProcesses(container.id, /portpilot relay agent/)).toEqual([]);
    }
    const forwarders = await execa('pgrep', ['-f', `__forward-daemon --container-id ${container.id}`], {
      reject: false,
    });
    expect(forwarders.stdout.trim().split('\n').filter(Boolean)).toEqual([String(pid)]);
  });
});

describe('docker rm -f under a forwarder', () => {
  it(`the forwarder exits and frees its ports, ${REPEATS} times out of ${REPEATS}, even with connections open`, async () => {
    for (let round = 1; round <= REPEATS; round++) {
      const container = await scope.start(TEST_IMAGES.debian.tag);
      const loopbackPort = await freeHostPort();
      const wildcardPort = await freeHostPort();
      await startServer(container.id, { port: loopbackPort, address: '127.0.0.1', kind: 'echo' });
      await startServer(container.id, { port: wildcardPort, address: '0.0.0.0', kind: 'echo' });
      const pid = await forwardContainer(stateDir, container.id);
      await waitForRows(stateDir, container.id, [loopbackPort, wildcardPort]);
      // One idle connection on each relay path, open while the container goes.
      const open = await Promise.all([loopbackPort, wildcardPort].map((port) => trackConnection(port)));

      await execa(DOCKER_COMMAND, ['rm', '-f', container.id]);
      await waitFor(() => !processAlive(pid), 8_000, `the forwarder to exit (round ${round})`);
      await Promise.all(open.map((connection) => connection.ended(5_000)));
      expect(await accepts(loopbackPort)).toBe(false);
      expect(await accepts(wildcardPort)).toBe(false);
      expect(await rowsOf(stateDir, container.id)).toEqual([]);
    }
  });
});

describe("a stopped container's address, taken by another container", () => {
  it('is never dialled while the forwarder waits to see whether the container restarts', async () => {
    // A run cut short may have left the network (and containers on it) behind: start from none.
    await removeNetwork(REUSED_NETWORK);
    const network = REUSED_NETWORK;
    await execa(DOCKER_COMMAND, ['network', 'create', '--subnet', REUSED_SUBNET, network]);
    try {
      const first = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', network] });
      const port = await freeHostPort();
      await startServer(first.id, { port, address: '0.0.0.0', kind: 'http' });
      const pid = await forwardContainer(stateDir, first.id);
      const [row] = await waitForRows(stateDir, first.id, [port]);
      expect(row?.path).toBe('direct');
      expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
      const { stdout: address } = await execa(DOCKER_COMMAND, [
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        first.id,
      ]);

      // The first container stops; a second one takes its address and serves the same port.
      await execa(DOCKER_COMMAND, ['stop', '--time', '0', first.id]);
      const stoppedAt = Date.now();
      const second = await scope.start(TEST_IMAGES.debian.tag, {
        runArgs: ['--network', network, '--ip', address.trim()],
      });
      await startServer(second.id, { port, address: '0.0.0.0', kind: 'http' });
      const reached = await httpGet(port, '/hello.txt').then(
        () => true,
        () => false,
      );
      // Checked after the attempt: the forwarder was still waiting when it was made.
      expect(processAlive(pid), `${Date.now() - stoppedAt} ms after the stop`).toBe(true);
      expect(reached).toBe(false);

      await waitFor(() => !processAlive(pid), RESTART_GRACE_MS + 6_000, 'the forwarder to give up');
      expect(await accepts(port)).toBe(false);
      expect(await rowsOf(stateDir, first.id)).toEqual([]);
    } finally {
      await removeNetwork(network);
    }
  });
});

/** Removes the network and every container on it (a network with containers cannot be removed). */
async function removeNetwork(name: string): Promise<void> {
  const attached = await execa(
    DOCKER_COMMAND,
    ['network', 'inspect', '--format', '{{range $id, $c := .Containers}}{{$id}} {{end}}', name],
    { reject: false },
  );
  if (attached.exitCode !== 0) return;
  for (const id of attached.stdout.split(' ').filter(Boolean)) await removeContainer(id);
  await execa(DOCKER_COMMAND, ['network', 'rm', name]);
}
