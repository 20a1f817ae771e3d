import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceHelper } from '../../src/forwarding/relay/netns/namespace-helper.js';
import { serveReversePort } from '../../src/forwarding/reverse-relay.js';
import { Docker } from '../../src/runtime/docker.js';
import { localRunner } from '../../src/runtime/process-runner.js';

// The compiled helper (npm run build): the one the forwarder runs, here in this process's namespace.
const HELPER = fileURLToPath(new URL('../../dist/forwarding/relay/netns/netns-helper.js', import.meta.url));

function spawnHere() {
  if (!existsSync(HELPER)) throw new Error(`${HELPER} is missing: run npm run build first`);
  return Promise.resolve(spawn(process.execPath, [HELPER], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
}

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

/** Connects, sends `payload`, half-closes, and collects everything until the server's end. */
async function exchange(port: number, payload: Buffer): Promise<Buffer> {
  const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'connect');
  socket.end(payload);
  await once(socket, 'end');
  socket.destroy();
  return Buffer.concat(chunks);
}

describe('serveReversePort through the namespace helper', () => {
  let host: Server;
  let hostPort = 0;
  const helpers: NamespaceHelper[] = [];
  const deps = { docker: new Docker(localRunner, 'docker') };

  beforeAll(async () => {
    // The host's server: greets, then answers the client's half-close with the bytes reversed.
    host = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.write('hi:');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => socket.end(Buffer.concat(chunks).reverse()));
    });
    host.listen(0, '127.0.0.1');
    await once(host, 'listening');
    hostPort = (host.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await Promise.all(helpers.map((helper) => helper.close()));
    host.close();
  });

  function helper(): NamespaceHelper {
    const created = new NamespaceHelper(spawnHere, { retryMinMs: 50 });
    helpers.push(created);
    return created;
  }

  it('relays a connection to the listener to the host port, byte-exact both ways with the half-close', async () => {
    const containerPort = await freePort();
    const served = serveReversePort(helper(), { hostPort, containerPort }, deps);
    expect(await served.listening).toBeNull();
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
    const answer = await exchange(containerPort, payload);
    expect(answer.subarray(0, 3).toString()).toBe('hi:');
    expect(answer.subarray(3).equals(Buffer.from(payload).reverse())).toBe(true);
    served.close();
  });

  it('resets the connection when nothing listens on the host port', async () => {
    const containerPort = await freePort();
    const served = serveReversePort(helper(), { hostPort: await freePort(), containerPort }, deps);
    expect(await served.listening).toBeNull();
    const socket = connect({ host: '127.0.0.1', port: containerPort });
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
    served.close();
  });

  it('says why when the port is taken, and stops listening at close', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const netns = helper();
    const busy = serveReversePort(
      netns,
      { hostPort, containerPort: (taken.address() as AddressInfo).port },
      deps,
    );
    expect(await busy.listening).toMatch(/EADDRINUSE/);
    busy.close();
    taken.close();
    const containerPort = await freePort();
    const served = serveReversePort(netns, { hostPort, containerPort }, deps);
    expect(await served.listening).toBeNull();
    served.close();
    await netns.connect('127.0.0.1', hostPort).then((socket) => socket?.destroy());
    const socket = connect({ host: '127.0.0.1', port: containerPort });
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('listens again when its helper dies', async () => {
    const containerPort = await freePort();
    const netns = helper();
    const served = serveReversePort(netns, { hostPort, containerPort }, deps);
    expect(await served.listening).toBeNull();
    const first = netns.pid;
    process.kill(first as number, 'SIGKILL');
    let answer: Buffer | null = null;
    for (let tries = 0; tries < 100 && answer === null; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await exchange(containerPort, Buffer.from('abc')).catch(() => null);
    }
    expect(answer?.toString()).toBe('hi:cba');
    expect(netns.pid).not.toBe(first);
    served.close();
  });
});
