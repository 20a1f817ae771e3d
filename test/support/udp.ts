import { createSocket, type Socket } from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { expect } from 'vitest';
import { DOCKER_COMMAND, waitFor } from './containers.js';

/** The UDP echo server run in the containers (python3). */
export const UDP_ECHO_SERVER = readFileSync(new URL('./servers/udp-echo.py', import.meta.url), 'utf8');

// Below every ephemeral range in use here (the kernel's default starts at 32768): a UDP server on an
// ephemeral port counts as a client's socket and is not auto-forwarded.
const TEST_PORT_FROM = 20_000;
const TEST_PORT_TO = 32_000;

function bindsUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    socket.once('error', () => (socket.close(), resolve(false)));
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

function bindsTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port below the ephemeral range, free on the host for TCP and UDP on 127.0.0.1 and ::1. */
export async function freeServerPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = TEST_PORT_FROM + (randomBytes(2).readUInt16BE() % (TEST_PORT_TO - TEST_PORT_FROM));
    const free = await Promise.all([
      bindsUdp('127.0.0.1', port),
      bindsUdp('::1', port),
      bindsTcp('127.0.0.1', port),
      bindsTcp('::1', port),
    ]);
    if (free.every(Boolean)) return port;
  }
  throw new Error(`found no port free for TCP and UDP in ${TEST_PORT_FROM}-${TEST_PORT_TO}`);
}

/** True when a UDP socket is bound to `port` in the container (any address), as its /proc says. */
export async function udpBoundInContainer(containerId: string, port: number): Promise<boolean> {
  const result = await execa(
    DOCKER_COMMAND,
    ['exec', containerId, 'cat', '/proc/net/udp', '/proc/net/udp6'],
    {
      reject: false,
    },
  );
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return result.stdout.split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(suffix) === true);
}

/** A server started in a container with `docker exec -d`, stopped by its pid. */
export interface ContainerServer {
  stop(): Promise<void>;
}

async function startDetached(containerId: string, port: number, command: string[]): Promise<ContainerServer> {
  const pidFile = `/tmp/portpilot-udp-${port}-${randomBytes(4).toString('hex')}.pid`;
  const wrapper = 'echo $$ >"$0"; exec "$@" >"$0.log" 2>&1';
  await execa(DOCKER_COMMAND, ['exec', '--detach', containerId, 'sh', '-c', wrapper, pidFile, ...command]);
  await waitFor(() => udpBoundInContainer(containerId, port), 10_000, `a UDP server on port ${port}`);
  return {
    async stop() {
      await execa(DOCKER_COMMAND, ['exec', containerId, 'sh', '-c', 'kill -KILL "$(cat "$0")"', pidFile], {
        reject: false,
      });
      await waitFor(
        async () => !(await udpBoundInContainer(containerId, port)),
        10_000,
        `port ${port} unbound`,
      );
    },
  };
}

/** Starts udp-echo.py in the container on `address`:`port`, and waits until it is bound. */
export function startUdpEcho(containerId: string, address: string, port: number): Promise<ContainerServer> {
  return startDetached(containerId, port, ['python3', '-c', UDP_ECHO_SERVER, address, String(port)]);
}

/** The name dnsmasq answers in the tests, and its address. */
export const DNS_NAME = 'portpilot.test';
export const DNS_ANSWER = '10.11.12.13';

/**
 * Starts dnsmasq in the container on `port` (UDP and TCP), answering DNS_NAME with DNS_ANSWER:
 * bound to `listenAddress` only, or to every address when it is null.
 */
export function startDnsmasq(
  containerId: string,
  port: number,
  listenAddress: string | null,
): Promise<ContainerServer> {
  const bind = listenAddress === null ? [] : [`--listen-address=${listenAddress}`, '--bind-interfaces'];
  return startDetached(containerId, port, [
    'dnsmasq',
    '--keep-in-foreground',
    '--user=root',
    '--no-resolv',
    '--no-hosts',
    `--port=${port}`,
    `--address=/${DNS_NAME}/${DNS_ANSWER}`,
    ...bind,
  ]);
}

/** `dig` on the host at server:port; its short answer (the address), or the error it printed. */
export async function dig(server: string, port: number): Promise<string> {
  const result = await execa(
    'dig',
    [`@${server}`, '-p', String(port), '+short', '+tries=3', '+time=2', DNS_NAME, 'A'],
    {
      reject: false,
    },
  );
  return result.stdout.trim() || result.stderr.trim() || `dig exited ${result.exitCode}`;
}

/** A client socket on the host; `ask` sends a datagram and waits for the next one back. */
export interface UdpClient {
  readonly socket: Socket;
  /** Every datagram received, in order. */
  readonly received: Buffer[];
  /** Sends `payload` (again every `retryMs` until an answer comes) and resolves to the answer. */
  ask(payload: Buffer, options?: { timeoutMs?: number; retryMs?: number }): Promise<Buffer>;
  /** Datagrams sent again because no answer came in time (UDP may drop them). */
  readonly resent: number;
  close(): void;
}

/** Opens a UDP client toward host:port. */
export async function udpClient(host: string, port: number): Promise<UdpClient> {
  const socket = createSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
  });
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  const received: Buffer[] = [];
  let waiter: ((message: Buffer) => void) | null = null;
  let resent = 0;
  socket.on('message', (message) => {
    received.push(message);
    waiter?.(message);
  });
  return {
    socket,
    received,
    get resent() {
      return resent;
    },
    ask(payload, { timeoutMs = 20_000, retryMs = 1_000 } = {}) {
      return new Promise((resolve, reject) => {
        const send = () => socket.send(payload, port, host);
        const retry = setInterval(() => {
          resent += 1;
          send();
        }, retryMs);
        const timer = setTimeout(() => {
          waiter = null;
          clearInterval(retry);
          reject(
            new Error(
              `no answer from ${host}:${port} to a ${payload.length}-byte datagram in ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        waiter = (message) => {
          waiter = null;
          clearInterval(retry);
          clearTimeout(timer);
          resolve(message);
        };
        send();
      });
    },
    close: () => socket.close(),
  };
}

/** How many sockets the process holds (its /proc/PID/fd entries that are sockets). */
export function socketCount(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count += 1;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/**
 * The forwarder's native UDP relays (one per direct-path UDP forward): its children running a program
 * built into the state dir's programs/ (see native-udp-build.ts).
 */
export function nativeRelayPids(forwarderPid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv0 = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (ppid === forwarderPid && /\/programs\/udp-relay-[0-9a-f]{16}$/.test(argv0)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;

/** Datagram `seq` of client `client`: its header names both, so a reply names its asker. */
export function udpPayload(client: number, seq: number, size: number): Buffer {
  if (size < 8) return Buffer.alloc(size, client + 1);
  const data = createHash('sha256').update(`${client}/${seq}`).digest();
  const buffer = Buffer.alloc(size);
  for (let offset = 8; offset < size; offset += data.length) data.copy(buffer, offset);
  buffer.writeUInt16BE(client, 0);
  buffer.writeUInt32BE(seq, 2);
  buffer.writeUInt16BE(0xabcd, 6);
  return buffer;
}

/** Sizes from 1 to the largest UDP payload, both ends included, spread across the range. */
export function udpSizeOf(index: number): number {
  if (index === 0) return 1;
  if (index === 1) return MAX_UDP_PAYLOAD;
  return 1 + ((index * 7919) % MAX_UDP_PAYLOAD);
}

/**
 * `clients` clients at once (on 127.0.0.1 and ::1 in turn) each send `perClient` datagrams of sizes
 * from 1 to MAX_UDP_PAYLOAD through the forward of an echo server on `port`: each reply must come back
 * unchanged, and only to its own sender (a resent datagram may come back twice). Logs the time taken.
 */
export async function expectEchoedToEachSender(
  port: number,
  clients: number,
  perClient: number,
  label: string,
): Promise<void> {
  const sockets = await Promise.all(
    Array.from({ length: clients }, (_, i) => udpClient(i % 2 === 0 ? '127.0.0.1' : '::1', port)),
  );
  try {
    const started = Date.now();
    await Promise.all(
      sockets.map(async (client, id) => {
        for (let seq = 0; seq < perClient; seq++) {
          const sent = udpPayload(id, seq, udpSizeOf(seq * clients + id));
          const answer = await client.ask(sent, { retryMs: 500, timeoutMs: 30_000 });
          expect(answer.equals(sent), `client ${id} datagram ${seq}`).toBe(true);
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const resent = sockets.reduce((sum, c) => sum + c.resent, 0);
    console.log(`${label}: ${clients * perClient} round trips in ${seconds.toFixed(1)} s, ${resent} resent`);
    sockets.forEach((client, id) => {
      for (const message of client.received) {
        if (message.length < 8) expect(message.every((b) => b === id + 1)).toBe(true);
        else expect(message.readUInt16BE(0)).toBe(id);
      }
    });
  } finally {
    for (const client of sockets) client.close();
  }
}
