import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { portsJson, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  freeHostPort,
  serverConnectionsInContainer,
  startServer,
  waitFor,
  type ServerAddress,
} from '../support/containers.js';
import { accepts, echoExact } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

// Detection's 2 s and withdrawal's 5 s, with room for a busy machine.
const FORWARDED_WAIT_MS = 5_000;
const WITHDRAWN_WAIT_MS = 10_000;
const CLOSE_WAIT_MS = 15_000;

interface PathCase {
  path: 'direct' | 'netns' | 'agent' | 'exec';
  /** Direct dials need a server on the container's own address; the others reach its loopback. */
  address: ServerAddress;
}

const CASES: PathCase[] = [
  { path: 'direct', address: '0.0.0.0' },
  { path: 'netns', address: '127.0.0.1' },
  { path: 'agent', address: '127.0.0.1' },
  { path: 'exec', address: '127.0.0.1' },
];

/** A client that half-closes only when told to; `exchange` writes a line and waits for its echo. */
async function openSession(port: number) {
  const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.setTimeout(60_000, () => socket.destroy(new Error(`session on port ${port} idle for 60 s`)));
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const ended = once(socket, 'end');
  return {
    socket,
    ended,
    async exchange(line: string): Promise<void> {
      const before = received.length;
      socket.write(line);
      await waitFor(() => received.length >= before + line.length, 30_000, `the echo of "${line.trim()}"`);
      expect(received.slice(before)).toBe(line);
    },
  };
}

describe.each(CASES)('a forward withdrawn on the $path path', ({ path, address }) => {
  it('keeps the session a debugger-style server holds, and forwards the server again when it listens anew', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--relay-path',
      path,
    ]);
    expect(line.outcome, run.stderr).toBe('success');
    const rowOf = async () =>
      (await portsJson(stateDir)).find((r) => r.containerId === container.id && r.containerPort === port);

    // Accepts one client, closes its listener, and echoes on that one connection (gdbserver's way).
    await startServer(container.id, { port, address, kind: 'session' });
    expect(await waitFor(rowOf, FORWARDED_WAIT_MS, `port ${port} forwarded`)).toMatchObject({
      hostPort: port,
      path,
    });
    const session = await openSession(port);
    await session.exchange('before the withdrawal\n');

    await waitFor(async () => (await rowOf()) === undefined, WITHDRAWN_WAIT_MS, `port ${port} withdrawn`);
    expect(await accepts(port)).toBe(false);
    await session.exchange('after the withdrawal\n');

    // The server listens again while the session is open: the same host port is bound anew.
    await startServer(container.id, { port, address, kind: 'echo' });
    expect(await waitFor(rowOf, FORWARDED_WAIT_MS, `port ${port} forwarded again`)).toMatchObject({
      hostPort: port,
      allocation: 'same',
      path,
    });
    const fresh = Buffer.from('a new client');
    expect((await echoExact(port, fresh)).equals(fresh)).toBe(true);
    await session.exchange('still the same session\n');

    // The client ends the session: the server sees the EOF and closes, and the client sees that.
    session.socket.end();
    await session.ended;
    session.socket.destroy();
    await waitFor(
      async () => (await serverConnectionsInContainer(container.id, port)) === 0,
      CLOSE_WAIT_MS,
      "the servers' connections closed",
    );
  });
});
