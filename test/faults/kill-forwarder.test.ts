import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, processAlive, runCli } from '../support/cli.js';
import {
  freeHostPort,
  removeThisRunsTestContainers,
  startContainer,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import {
  forwardContainer,
  rowsOf,
  startFaultServer,
  trackConnection,
  waitForRows,
} from './support/faults.js';

const stateDir = makeStateDir();
const started: TestContainer[] = [];

afterAll(async () => {
  for (const container of started)
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  await removeThisRunsTestContainers();
});

describe('kill -9 of a forwarder', () => {
  it('mid-transfer: clients see their connections end, ports drops the entries, up restores the same host ports', async () => {
    const container = await startContainer(TEST_IMAGES.debian.tag);
    started.push(container);
    const execPort = await freeHostPort();
    const directPort = await freeHostPort();
    const httpPort = await freeHostPort();
    // 127.0.0.1 in the container goes through docker exec; 0.0.0.0 straight to the container's IP.
    await startFaultServer(container.id, 'endless', '127.0.0.1', [execPort]);
    await startFaultServer(container.id, 'endless', '0.0.0.0', [directPort]);
    await startServer(container.id, { port: httpPort, address: '127.0.0.1', kind: 'http' });
    const pid = await forwardContainer(stateDir, container.id);
    const rows = await waitForRows(stateDir, container.id, [execPort, directPort, httpPort]);
    expect(new Set(rows.map((row) => row.path))).toEqual(new Set(['exec', 'direct']));

    // Each server sends without end; each client reads the first bytes, then stops reading.
    const clients = await Promise.all(
      [execPort, directPort].map(async (port) => {
        const client = await trackConnection(port);
        await waitFor(() => client.received() > 0, 15_000, `the first bytes from port ${port}`);
        client.socket.pause();
        return client;
      }),
    );
    await sleep(500);
    expect(clients.map((client) => client.endedAt())).toEqual([null, null]);

    process.kill(pid, 'SIGKILL');
    await waitFor(() => !processAlive(pid), 5_000, 'the forwarder to die');
    await Promise.all(clients.map((client) => client.ended(5_000)));

    expect(await rowsOf(stateDir, container.id)).toEqual([]);

    const newPid = await forwardContainer(stateDir, container.id);
    expect(newPid).not.toBe(pid);
    const restored = await waitForRows(stateDir, container.id, [execPort, directPort, httpPort]);
    for (const row of restored) {
      expect(row).toMatchObject({ hostPort: row.containerPort, allocation: 'same', forwarderPid: newPid });
    }
    expect((await httpGet(httpPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });
});
