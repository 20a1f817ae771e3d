import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostListener } from '../../src/forwarding/host/host-listener.js';
import type { AgentInterpreter } from '../../src/forwarding/relay/agent/agent-protocol.js';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { MuxChannel } from '../../src/forwarding/relay/mux/mux-channel.js';
import { OnDemandMux } from '../../src/forwarding/relay/mux/mux-on-demand.js';
import { bindUdpRelay } from '../../src/forwarding/relay/udp-relay.js';
import { localRunner, type RunningProcess } from '../../src/runtime/process-runner.js';
import { waitFor } from '../support/containers.js';
import {
  MAX_UDP_PAYLOAD,
  expectEchoedToEachSender,
  freeServerPort,
  udpClient,
  udpPayload,
  udpSizeOf,
} from '../support/udp.js';

const IDLE_MS = 1_500;

/** The sockets a process holds besides its stdio (a local exec's stdio may be socket pairs). */
function sessionSockets(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    if (Number(fd) <= 2) continue;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count += 1;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** A UDP echo server on this machine's 127.0.0.1 ("the container's"), with the peers it heard. */
async function echoServer(): Promise<{ port: number; peers: Set<string>; socket: Socket }> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  const peers = new Set<string>();
  socket.on('message', (message, peer) => {
    peers.add(`${peer.address}:${peer.port}`);
    socket.send(message, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, peers, socket };
}

describe.each(['python3', 'perl'] as const)('UDP sessions over the %s mux agent', (interpreter) => {
  const logs: { message: string; fields?: Record<string, unknown> }[] = [];
  const log = (message: string, fields?: Record<string, unknown>) => logs.push({ message, fields });
  const agents: RunningProcess[] = [];
  let channel: MuxChannel | null = null;
  let mux: OnDemandMux;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let relay: HostListener;
  const agentPid = () => agents.at(-1)?.pid ?? 0;

  beforeAll(async () => {
    echo = await echoServer();
    // The agent as the container would run it, started by the first session, again after it died.
    mux = new OnDemandMux(
      async () => {
        const [file = '', ...args] = muxAgentArgv(interpreter as AgentInterpreter);
        const exec = localRunner.spawn(file, args);
        agents.push(exec);
        channel = await MuxChannel.start(exec, { where: `mux agent (${interpreter})`, log });
        return channel;
      },
      { idleMs: 60_000 },
    );
    const port = await freeServerPort();
    const bound = await bindUdpRelay({
      port,
      idleMs: IDLE_MS,
      log,
      target: () => ({
        address: '127.0.0.1',
        port: echo.port,
        open: (address) => mux.datagramSession(address, echo.port),
      }),
    });
    if (bound === null) throw new Error(`UDP port ${port} was taken`);
    relay = bound;
  });

  afterAll(async () => {
    await relay?.close();
    await mux?.close();
    echo?.socket.close();
  });

  it('returns datagrams of every size from 1 to 65,507 bytes (and an empty one) byte-exact', async () => {
    const client = await udpClient('127.0.0.1', relay.port);
    try {
      const sizes = [0, 1, 2, 3, 255, 1_472, 1_473, 8_192, 65_000, MAX_UDP_PAYLOAD - 1, MAX_UDP_PAYLOAD];
      for (let index = 0; index < 200; index++) sizes.push(udpSizeOf(index));
      for (const [seq, size] of sizes.entries()) {
        const sent = udpPayload(0, seq, size);
        const answer = await client.ask(sent, { retryMs: 1_000, timeoutMs: 10_000 });
        expect(answer.length, `a ${size}-byte datagram`).toBe(size);
        expect(answer.equals(sent), `a ${size}-byte datagram`).toBe(true);
      }
    } finally {
      client.close();
    }
  });

  it('gives 12 clients at once a session and an agent socket each: every reply to its own sender', async () => {
    echo.peers.clear();
    await expectEchoedToEachSender(relay.port, 12, 30, `${interpreter} mux datagrams`);
    // The server saw each client as a peer of its own, all on the agent's side of 127.0.0.1.
    expect(echo.peers.size).toBeGreaterThanOrEqual(12);
    for (const peer of echo.peers) expect(peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('ends idle sessions: the agent closes their sockets, and a client heard again gets a new one', async () => {
    const client = await udpClient('127.0.0.1', relay.port);
    try {
      echo.peers.clear();
      expect((await client.ask(Buffer.from('before'))).toString()).toBe('before');
      expect(sessionSockets(agentPid())).toBeGreaterThan(0);
      await waitFor(
        () => sessionSockets(agentPid()) === 0,
        10_000,
        'the agent to close every session socket',
      );
      expect((await client.ask(Buffer.from('after'))).toString()).toBe('after');
      expect(echo.peers.size).toBe(2);
    } finally {
      client.close();
    }
  });

  it("sends only to the container's own addresses: a session elsewhere fails with the reason", async () => {
    expect(channel?.alive).toBe(true);
    const session = channel!.openDatagrams('192.0.2.1', 53);
    const [error] = (await once(session, 'error')) as [Error];
    expect(error.message).toMatch(/cannot send to 192\.0\.2\.1:53: .*(EADDRNOTAVAIL|Cannot assign)/);
    expect(session.closed).toBe(true);
    expect(channel?.alive).toBe(true);
  });

  it('drops what it cannot hold while the agent is stopped, counts the drops, and alters none', async () => {
    const client = await udpClient('127.0.0.1', relay.port);
    try {
      expect((await client.ask(Buffer.from('warm'))).toString()).toBe('warm');
      client.received.length = 0;
      const sent = new Map<string, Buffer>();
      process.kill(agentPid(), 'SIGSTOP');
      try {
        for (let seq = 0; seq < 400; seq++) {
          const datagram = udpPayload(1, seq, 20_000 + seq);
          sent.set(datagram.subarray(0, 8).toString('hex'), datagram);
          client.socket.send(datagram, relay.port, '127.0.0.1');
          if (seq % 50 === 0) await sleep(10);
        }
        await sleep(300);
      } finally {
        process.kill(agentPid(), 'SIGCONT');
      }
      await sleep(1_000);
      expect(client.received.length).toBeGreaterThan(0);
      expect(client.received.length).toBeLessThan(400);
      for (const reply of client.received) {
        expect(sent.get(reply.subarray(0, 8).toString('hex'))?.equals(reply)).toBe(true);
      }
      await waitFor(
        () => logs.some((line) => Number(line.fields?.droppedOnHost ?? 0) > 0),
        10_000,
        'the dropped datagrams counted in the log once the session ended',
      );
    } finally {
      client.close();
    }
  });

  it('ends its sessions when the channel dies; the next datagram goes on a new channel', async () => {
    const client = await udpClient('127.0.0.1', relay.port);
    try {
      expect((await client.ask(Buffer.from('first channel'))).toString()).toBe('first channel');
      const dying = agents.at(-1);
      dying?.terminate('SIGKILL');
      await dying?.exited;
      await waitFor(() => channel?.alive === false, 5_000, 'the channel to die');
      expect((await client.ask(Buffer.from('second channel'))).toString()).toBe('second channel');
      expect(agents.at(-1)).not.toBe(dying);
    } finally {
      client.close();
    }
  });
});
