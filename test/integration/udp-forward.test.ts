import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { portsJson, processAlive, runCli, runUp, type PortRow } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { startServer, waitFor } from '../support/containers.js';
import { echoExact } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { startWatch } from '../support/port-watch.js';
import {
  DNS_ANSWER,
  dig,
  freeServerPort,
  socketCount,
  startDnsmasq,
  startUdpEcho,
  udpClient,
  MAX_UDP_PAYLOAD,
  expectEchoedToEachSender,
  nativeRelayPids,
} from '../support/udp.js';

const scope = containerScope();
const { stateDir } = scope;

// The contract's 2 s detection and 5 s withdrawal, timed from the server's start and stop.
const DETECT_MS = 2_000;
const WITHDRAW_MS = 5_000;
// Waits for things the contract does not time, with room for a busy machine.
const WAIT_MS = 15_000;
const CLIENTS = 50;
const DATAGRAMS_PER_CLIENT = 200;
const IDLE_MS = 1_500;

async function upFor(containerId: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}) {
  const { run, line } = await runUp(
    stateDir,
    ['--container-id', containerId, '--auto-forward', ...args],
    env,
  );
  expect(line.outcome, run.stderr).toBe('success');
  return line.forwarder?.pid ?? 0;
}

function rowOf(containerId: string, port: number, protocol: 'tcp' | 'udp') {
  return async (): Promise<PortRow | undefined> =>
    (await portsJson(stateDir)).find(
      (row) => row.containerId === containerId && row.containerPort === port && row.protocol === protocol,
    );
}

describe('UDP forwarding', () => {
  it('forwards a wildcard-bound DNS server directly: dig answers on 127.0.0.1 and ::1, ports shows protocol udp', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    await upFor(container.id);
    await startDnsmasq(container.id, port, null);
    const row = await waitFor(rowOf(container.id, port, 'udp'), WAIT_MS, `UDP port ${port} forwarded`);
    expect(row).toMatchObject({ hostPort: port, protocol: 'udp', path: 'direct', origin: 'detected' });
    expect(await dig('127.0.0.1', port)).toBe(DNS_ANSWER);
    expect(await dig('::1', port)).toBe(DNS_ANSWER);
    // dnsmasq serves DNS over TCP on the same port: a second forward, on the same host port number.
    expect(await waitFor(rowOf(container.id, port, 'tcp'), WAIT_MS, `TCP port ${port}`)).toMatchObject({
      hostPort: port,
      protocol: 'tcp',
    });
    const table = await runCli(stateDir, ['ports', '--container-id', container.id]);
    expect(table.stdout).toMatch(/udp/);
  });

  it('gives a DNS server bound to the container loopback a failed event that says why when its namespace helper is not allowed (--relay-path exec)', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    await upFor(container.id, ['--relay-path', 'exec']);
    const watch = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    try {
      await startDnsmasq(container.id, port, '127.0.0.1');
      const failed = await waitFor(
        () =>
          watch.events.find(
            (e) =>
              e.type === 'failed' &&
              e.containerPort === port &&
              (e as { protocol?: string }).protocol === 'udp',
          ),
        WAIT_MS,
        `a failed event for UDP port ${port}`,
      );
      expect(failed.reason).toMatch(/--relay-path exec/);
      expect(await rowOf(container.id, port, 'udp')()).toBeUndefined();
      // Its TCP side (dnsmasq answers over TCP too) is forwarded as ever.
      expect(await waitFor(rowOf(container.id, port, 'tcp'), WAIT_MS, `TCP port ${port}`)).toBeDefined();
    } finally {
      await watch.stop();
    }
  });

  it(`echoes ${CLIENTS * DATAGRAMS_PER_CLIENT} datagrams of 1 to ${MAX_UDP_PAYLOAD} bytes from ${CLIENTS} clients at once, each reply unchanged to its own sender`, async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    await upFor(container.id);
    await startUdpEcho(container.id, '0.0.0.0', port);
    await waitFor(rowOf(container.id, port, 'udp'), WAIT_MS, `UDP port ${port} forwarded`);
    await expectEchoedToEachSender(port, CLIENTS, DATAGRAMS_PER_CLIENT, 'udp echo');
  });

  it('forwards a UDP server started after up within 2 s, and withdraws it within 5 s of its stop', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    await upFor(container.id);
    const watch = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    try {
      const server = await startUdpEcho(container.id, '::', port);
      const bound = Date.now();
      const forwarded = await waitFor(
        () => watch.events.find((e) => e.type === 'forwarded' && e.containerPort === port),
        WAIT_MS,
        `UDP port ${port} forwarded`,
      );
      expect(Date.parse(forwarded.at) - bound).toBeLessThanOrEqual(DETECT_MS);
      const client = await udpClient('127.0.0.1', port);
      expect((await client.ask(Buffer.from('over the :: server'))).toString()).toBe('over the :: server');
      client.close();
      await server.stop();
      const stopped = Date.now();
      const withdrawn = await waitFor(
        () => watch.events.find((e) => e.type === 'withdrawn' && e.containerPort === port),
        WAIT_MS,
        `UDP port ${port} withdrawn`,
      );
      expect(Date.parse(withdrawn.at) - stopped).toBeLessThanOrEqual(WITHDRAW_MS);
      expect(await rowOf(container.id, port, 'udp')()).toBeUndefined();
    } finally {
      await watch.stop();
    }
  });

  it('forwards a declared PORT/udp and a TCP server on the same port as two forwards, each reachable', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    await upFor(container.id, ['--forward-port', `${port}/udp`]);
    // Declared: forwarded before anything listens.
    expect(await rowOf(container.id, port, 'udp')()).toMatchObject({ origin: 'declared', hostPort: port });
    await startUdpEcho(container.id, '0.0.0.0', port);
    await startServer(container.id, { port, address: '0.0.0.0', kind: 'echo' });
    await waitFor(rowOf(container.id, port, 'tcp'), WAIT_MS, `TCP port ${port} forwarded`);
    const client = await udpClient('127.0.0.1', port);
    expect((await client.ask(Buffer.from('udp side'))).toString()).toBe('udp side');
    client.close();
    const bytes = Buffer.from('tcp side');
    expect((await echoExact(port, bytes)).equals(bytes)).toBe(true);
    const rows = (await portsJson(stateDir)).filter(
      (r) => r.containerId === container.id && r.containerPort === port,
    );
    expect(rows.map((r) => `${r.protocol}:${r.hostPort}`).sort()).toEqual([`tcp:${port}`, `udp:${port}`]);
  });

  it('takes the same UDP host port while the host holds that TCP port', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port }, resolve));
    try {
      await upFor(container.id);
      await startUdpEcho(container.id, '0.0.0.0', port);
      expect(await waitFor(rowOf(container.id, port, 'udp'), WAIT_MS, `UDP port ${port}`)).toMatchObject({
        hostPort: port,
        allocation: 'same',
      });
    } finally {
      holder.close();
    }
  });

  it('ends idle sessions after the idle time, and leaves no socket or process after down', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    const pid = await upFor(container.id, [], { PORTPILOT_UDP_IDLE_MS: String(IDLE_MS) });
    await startUdpEcho(container.id, '0.0.0.0', port);
    await waitFor(rowOf(container.id, port, 'udp'), WAIT_MS, `UDP port ${port} forwarded`);
    // A direct-path forward is relayed by one native relay, the forwarder's child.
    const relays = nativeRelayPids(pid);
    expect(relays).toHaveLength(1);
    const sockets = () => socketCount(pid) + socketCount(relays[0]!);
    const before = sockets();
    const clients = await Promise.all(Array.from({ length: 5 }, () => udpClient('127.0.0.1', port)));
    for (const client of clients) await client.ask(Buffer.from('hello'));
    // One session socket per client while they talk…
    expect(sockets()).toBe(before + clients.length);
    // …none once they have been quiet for the idle time.
    await waitFor(() => sockets() === before, WAIT_MS, 'idle sessions closed');
    // A client heard from again gets a new session.
    expect((await clients[0]!.ask(Buffer.from('again'))).toString()).toBe('again');
    for (const client of clients) client.close();

    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    expect(processAlive(relays[0]!)).toBe(false);
    // The host port is free for UDP again.
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: '127.0.0.1', port, exclusive: true }, resolve);
    });
    socket.close();
  });

  it('leaves no native relay behind a forwarder killed with SIGKILL', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    const pid = await upFor(container.id);
    await startUdpEcho(container.id, '0.0.0.0', port);
    await waitFor(rowOf(container.id, port, 'udp'), WAIT_MS, `UDP port ${port} forwarded`);
    const relays = nativeRelayPids(pid);
    expect(relays).toHaveLength(1);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !processAlive(relays[0]!), WAIT_MS, 'the native relay gone with its forwarder');
  });
});
