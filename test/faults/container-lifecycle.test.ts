import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, freeHostPort, startServer, waitFor } from '../support/containers.js';
import { accepts, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { forwardContainer, rowsOf, trackConnection, waitForRows } from './support/faults.js';

const scope = containerScope();
const { stateDir } = scope;
const REPEATS = 3;

describe('docker restart under a forwarder', () => {
  it(`forwarding resumes on the same host port after each of ${REPEATS} restarts`, async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    let pid = await forwardContainer(stateDir, container.id);
    await waitForRows(stateDir, container.id, [port]);

    for (let round = 1; round <= REPEATS; round++) {
      await execa(DOCKER_COMMAND, ['restart', '--time', '1', container.id]);
      // The servers died with the container; start this one again, as a dev would.
      await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
      if (!processAlive(pid)) {
        // The forwarder may also have left with the old container: then it must have freed
        // everything, and a new up takes over the same port.
        expect(await rowsOf(stateDir, container.id)).toEqual([]);
        pid = await forwardContainer(stateDir, container.id);
      }
      const rows = await waitForRows(stateDir, container.id, [port], 8_000);
      expect(rows[0]).toMatchObject({ hostPort: port, allocation: 'same', forwarderPid: pid });
      const response = await waitFor(
        () => httpGet(port, '/hello.txt').catch(() => null),
        8_000,
        `port ${port} to serve again after restart ${round}`,
      );
      expect(response.body).toBe(HELLO_FILE_TEXT);
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
