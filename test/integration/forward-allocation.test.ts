import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, portsJson, runCli, runUp } from '../support/cli.js';
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

const stateDir = makeStateDir();
const started: TestContainer[] = [];
const hostServers: Server[] = [];

afterAll(async () => {
  for (const server of hostServers) server.close();
  for (const container of started)
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  await removeThisRunsTestContainers();
});

async function forwardedContainer(serverPorts: number[]): Promise<TestContainer> {
  const container = await startContainer(TEST_IMAGES.debian.tag);
  started.push(container);
  for (const port of serverPorts)
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
  const { run, line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
  expect(line.outcome, run.stderr).toBe('success');
  return container;
}

async function rowFor(containerId: string, containerPort: number) {
  return waitFor(
    async () =>
      (await portsJson(stateDir)).find(
        (r) => r.containerId === containerId && r.containerPort === containerPort,
      ),
    5_000,
    `port ${containerPort} forwarded`,
  );
}

function occupy(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve());
    hostServers.push(server);
  });
}

describe('host port choice', () => {
  it('a host port taken by another program gives the next free port above it', async () => {
    const port = await freeHostPort();
    await occupy(port);
    const container = await forwardedContainer([port]);
    const row = await rowFor(container.id, port);
    expect(row.allocation).toBe('remapped-in-use');
    expect(row.hostPort).toBeGreaterThan(port);
    expect((await httpGet(row.hostPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });

  it('a privileged container port goes to 8000+P', async () => {
    const container = await forwardedContainer([80]);
    const row = await rowFor(container.id, 80);
    expect(row.allocation).toBe('remapped-privileged');
    expect(row.hostPort).toBeGreaterThanOrEqual(8080);
    expect((await httpGet(row.hostPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });

  it('two containers listening on the same port get different host ports, both reachable', async () => {
    const port = await freeHostPort();
    const first = await forwardedContainer([port]);
    const firstRow = await rowFor(first.id, port);
    const second = await forwardedContainer([port]);
    const secondRow = await rowFor(second.id, port);
    expect(firstRow.hostPort).toBe(port);
    expect(secondRow.hostPort).not.toBe(port);
    expect(secondRow.allocation).toBe('remapped-in-use');
    expect((await httpGet(firstRow.hostPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect((await httpGet(secondRow.hostPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });
});
