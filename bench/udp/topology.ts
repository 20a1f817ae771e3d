import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { UDP_ECHO_SCRIPT_PATH } from '../paths.js';
import { startContainer, type BenchContainer } from '../setup/containers.js';
import { freeHostPort } from '../setup/host-ports.js';
import type { Portpilot } from '../setup/portpilot.js';
import type { Endpoint } from '../setup/topology.js';
import { UDP_IN_PROCESS_ENV, UDP_PORTS, type UdpCaseName } from './config.js';

/** One UDP case: where its client sends, and the portpilot forward it goes through (if any). */
export interface UdpCase {
  name: UdpCaseName;
  endpoint: Endpoint;
  /** portpilot cases: the forwarder's portpilot, container and port, to read `ports --json`'s path for. */
  forward: { portpilot: Portpilot; containerId: string; port: number } | null;
}

const ECHO_IN_CONTAINER = '/tmp/udp-echo.py';
const BIND_TIMEOUT_MS = 15_000;

// /proc/net/udp spells an IPv4 address as the raw little-endian word, hence the reversed bytes.
function procNetUdpAddress(host: string, port: number): string {
  const hex = host
    .split('.')
    .reverse()
    .map((byte) => Number(byte).toString(16).padStart(2, '0'))
    .join('');
  return `${hex}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
}

/** Pure: which host:port pairs a /proc/net/udp text shows bound. */
export function udpBound(procNetUdp: string, addresses: readonly Endpoint[]): boolean[] {
  const bound = new Set(
    procNetUdp
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[1]),
  );
  return addresses.map(({ host, port }) => bound.has(procNetUdpAddress(host, port)));
}

async function startEchoServers(container: BenchContainer, servers: readonly Endpoint[]): Promise<void> {
  await execa('docker', ['cp', UDP_ECHO_SCRIPT_PATH, `${container.id}:${ECHO_IN_CONTAINER}`]);
  for (const { host, port } of servers)
    await execa('docker', [
      'exec',
      '--detach',
      container.id,
      'python3',
      ECHO_IN_CONTAINER,
      host,
      String(port),
    ]);
  const deadline = Date.now() + BIND_TIMEOUT_MS;
  for (;;) {
    const text = await readFile(`/proc/${container.initPid}/net/udp`, 'utf8');
    if (udpBound(text, servers).every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`the UDP echo servers in ${container.name} never bound`);
    await sleep(50);
  }
}

/**
 * One container of the Debian test image with three copies of the tests' UDP echo server: on
 * 0.0.0.0 (portpilot's direct path, and the direct send to the container's address), on 127.0.0.1
 * (the netns path), and on 0.0.0.0 published with `-p 127.0.0.1:HOSTPORT:PORT/udp` (docker-proxy; a
 * forwarder leaves a published port alone), behind an auto forwarder.
 */
export async function setUpUdp(
  image: string,
  portpilot: Portpilot,
): Promise<{ container: BenchContainer; cases: UdpCase[] }> {
  const proxyPort = await freeHostPort();
  const container = await startContainer(image, 'udp', [
    { hostPort: proxyPort, containerPort: UDP_PORTS.published, protocol: 'udp' },
  ]);
  await startEchoServers(container, [
    { host: '0.0.0.0', port: UDP_PORTS.direct },
    { host: '127.0.0.1', port: UDP_PORTS.netns },
    { host: '0.0.0.0', port: UDP_PORTS.published },
  ]);
  await portpilot.up(container.id, 'auto');
  const rows = await portpilot.waitForwarded(container.id, [UDP_PORTS.direct, UDP_PORTS.netns]);
  const hostPort = (port: number) => rows.get(port)?.hostPort ?? 0;
  // The same server and forward again, from a forwarder that relays it in Node instead of natively.
  const second = await startContainer(image, 'udp-in-process');
  await startEchoServers(second, [{ host: '0.0.0.0', port: UDP_PORTS.direct }]);
  const inProcess = await portpilot.withEnv(UDP_IN_PROCESS_ENV);
  await inProcess.up(second.id, 'auto');
  const inProcessRow = (await inProcess.waitForwarded(second.id, [UDP_PORTS.direct])).get(UDP_PORTS.direct);
  const forwardOf = (p: Portpilot, containerId: string, port: number) => ({
    portpilot: p,
    containerId,
    port,
  });
  return {
    container,
    cases: [
      { name: 'direct', endpoint: { host: container.ip, port: UDP_PORTS.direct }, forward: null },
      { name: 'docker-proxy', endpoint: { host: '127.0.0.1', port: proxyPort }, forward: null },
      {
        name: 'portpilot-direct',
        endpoint: { host: '127.0.0.1', port: hostPort(UDP_PORTS.direct) },
        forward: forwardOf(portpilot, container.id, UDP_PORTS.direct),
      },
      {
        name: 'portpilot-in-process',
        endpoint: { host: '127.0.0.1', port: inProcessRow?.hostPort ?? 0 },
        forward: forwardOf(inProcess, second.id, UDP_PORTS.direct),
      },
      {
        name: 'portpilot-netns',
        endpoint: { host: '127.0.0.1', port: hostPort(UDP_PORTS.netns) },
        forward: forwardOf(portpilot, container.id, UDP_PORTS.netns),
      },
    ],
  };
}
