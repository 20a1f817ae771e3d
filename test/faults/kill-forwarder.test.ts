import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { freeHostPort, startServer, waitFor } from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';
import {
  childPids,
  containerProcesses,
  forwardContainer,
  rowsOf,
  startFaultServer,
  trackConnection,
  waitForRows,
} from './support/faults.js';

const scope = containerScope();
const { stateDir } = scope;

const CASES = [
  // 0.0.0.0 in the container is dialled directly; 127.0.0.1 through the namespace helper (as root).
  { name: 'direct and netns paths', upArgs: [] as string[], paths: ['direct', 'netns'] },
  // Forced, the relay agent carries both.
  { name: 'agent path', upArgs: ['--relay-path', 'agent'], paths: ['agent'] },
  // Every connection its own `docker exec` relay.
  { name: 'exec path', upArgs: ['--relay-path', 'exec'], paths: ['exec'] },
];

describe.each(CASES)('kill -9 of a forwarder ($name)', ({ upArgs, paths }) => {
  it('mid-transfer: clients see their connections end, ports drops the entries, up restores the same host ports', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const loopbackPort = await freeHostPort();
    const wildcardPort = await freeHostPort();
    const httpPort = await freeHostPort();
    await startFaultServer(container.id, 'endless', '127.0.0.1', [loopbackPort]);
    await startFaultServer(container.id, 'endless', '0.0.0.0', [wildcardPort]);
    await startServer(container.id, { port: httpPort, address: '127.0.0.1', kind: 'http' });
    const pid = await forwardContainer(stateDir, container.id, upArgs);
    const rows = await waitForRows(stateDir, container.id, [loopbackPort, wildcardPort, httpPort]);
    expect([...new Set(rows.map((row) => row.path))].sort()).toEqual(paths);

    // Each server sends without end; each client reads the first bytes, then stops reading.
    const clients = await Promise.all(
      [loopbackPort, wildcardPort].map(async (port) => {
        const client = await trackConnection(port);
        await waitFor(() => client.received() > 0, 15_000, `the first bytes from port ${port}`);
        client.socket.pause();
        return client;
      }),
    );
    await sleep(500);
    expect(clients.map((client) => client.endedAt())).toEqual([null, null]);

    const agents = () => containerProcesses(container.id, /portpilot relay agent/);
    expect((await agents()).length).toBe(paths.includes('agent') ? 1 : 0);

    // On the netns path the forwarder has one namespace helper.
    const children = childPids(pid).filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('netns-helper');
      } catch {
        return false;
      }
    });
    expect(children.length).toBe(paths.includes('netns') ? 1 : 0);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !processAlive(pid), 5_000, 'the forwarder to die');
    // Its channel closed with it, so the helper exits too.
    await waitFor(() => children.every((child) => !processAlive(child)), 5_000, 'its helper to exit');
    await Promise.all(clients.map((client) => client.ended(5_000)));
    for (const client of clients) client.socket.destroy();
    // Its exec connection died with it, so the engine closed the agent's stdin: the agent is gone too.
    await waitFor(async () => (await agents()).length === 0, 10_000, 'the relay agent to exit');

    expect(await rowsOf(stateDir, container.id)).toEqual([]);

    const newPid = await forwardContainer(stateDir, container.id, upArgs);
    expect(newPid).not.toBe(pid);
    const restored = await waitForRows(stateDir, container.id, [loopbackPort, wildcardPort, httpPort]);
    for (const row of restored) {
      expect(row).toMatchObject({ hostPort: row.containerPort, allocation: 'same', forwarderPid: newPid });
    }
    expect((await httpGet(httpPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });
});
