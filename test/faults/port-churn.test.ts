import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, startServer, waitFor, type TestContainer } from '../support/containers.js';
import { accepts, exchange, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import { hostLoopbackListens, startTimedServer, timeWhen } from '../support/timed-server.js';
import { forwardContainer, startWatch, waitForRows } from './support/faults.js';

const scope = containerScope();
const { stateDir } = scope;
const RESTARTS = 4;

function holdHostPort(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end('not the forward\n'));
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

function release(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function containerWithForwarder(): Promise<TestContainer> {
  const container = await scope.start(TEST_IMAGES.debian.tag);
  await forwardContainer(stateDir, container.id);
  return container;
}

describe('a host port taken by another program between two forwards', () => {
  for (const host of ['127.0.0.1', '::1'] as const) {
    it(`taken on ${host}: the next forward of that container port is remapped, then returns once free`, async () => {
      const container = await containerWithForwarder();
      const port = await freeHostPort();
      let server = await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
      await waitForRows(stateDir, container.id, [port]);
      await server.stop();
      await waitForRows(stateDir, container.id, []);

      const squatter = await holdHostPort(port, host);
      try {
        server = await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
        const [row] = await waitForRows(stateDir, container.id, [port]);
        expect(row?.allocation).toBe('remapped-in-use');
        expect(row?.hostPort).toBeGreaterThan(port);
        expect((await httpGet(row?.hostPort ?? 0, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
        // The other program still has its port, untouched.
        expect((await exchange(port, new Uint8Array(), host)).toString()).toBe('not the forward\n');
        await server.stop();
        await waitForRows(stateDir, container.id, []);
      } finally {
        await release(squatter);
      }

      await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
      const [back] = await waitForRows(stateDir, container.id, [port]);
      expect(back).toMatchObject({ hostPort: port, allocation: 'same' });
    });
  }
});

describe('a server that stops and listens again quickly', () => {
  it(`keeps its forward and host port through ${RESTARTS} quick restarts, with no flapping events, while other connections come and go`, async () => {
    const container = await containerWithForwarder();
    const port = await freeHostPort();
    const busyPort = await freeHostPort();
    let server = await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    // Connections to another forward keep the container's socket counts moving, as a browser
    // polling a dev server does: the forwarder then reads the listeners as often as it can.
    await startServer(container.id, { port: busyPort, address: '0.0.0.0', kind: 'echo' });
    await waitForRows(stateDir, container.id, [port, busyPort]);

    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    let traffic = true;
    const busy = (async () => {
      while (traffic) {
        await exchange(busyPort, Buffer.from('ping')).catch(() => undefined);
        await sleep(20);
      }
    })();
    try {
      for (let round = 0; round < RESTARTS; round++) {
        await server.stop();
        server = await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
        expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
      }
      // Long enough for any withdrawal of the last gap to have shown.
      await sleep(6_000);
    } finally {
      traffic = false;
      await busy;
      await watcher.stop();
    }
    const forPort = watcher.events.filter((event) => event.containerPort === port);
    expect(forPort.map((event) => event.type)).toEqual([]);
    const [row] = (await waitForRows(stateDir, container.id, [port, busyPort])).filter(
      (r) => r.containerPort === port,
    );
    expect(row).toMatchObject({ hostPort: port, allocation: 'same' });
  });

  it('a server gone for good is still withdrawn within 5 s of closing its listener', async () => {
    const container = await containerWithForwarder();
    const port = await freeHostPort();
    const server = startTimedServer(container.id, port);
    try {
      await waitFor(() => accepts(port), 5_000, `port ${port} forwarded`);
      const closedAt = await server.close();
      const withdrawnAt = await timeWhen(() => !hostLoopbackListens(port), 15_000, `port ${port} withdrawn`);
      expect(withdrawnAt - closedAt).toBeLessThan(5_000);
      expect(await accepts(port)).toBe(false);
    } finally {
      await server.close().catch(() => undefined);
    }
  });
});
