import { createSocket } from 'node:dgram';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, waitFor } from '../support/containers.js';
import { TEST_IMAGES } from '../support/images.js';
import { hostProcessesNaming, muxAgentsIn } from '../support/mux-checks.js';
import {
  DNS_ANSWER,
  dig,
  expectEchoedToEachSender,
  freeServerPort,
  startDnsmasq,
  startUdpEcho,
  udpClient,
} from '../support/udp.js';
import {
  forwarderHostPid,
  sshClientPids,
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from '../faults/support/remote-engine.js';

const scope = containerScope();
const { stateDir } = scope;
// The engine is this machine's: the test reaches the container with the local CLI, the forwarder over SSH.
const ENGINE = [DOCKER_COMMAND];
const DNS_PORT = 5353;
const CLIENTS = 50;
const DATAGRAMS_PER_CLIENT = 60;
// Sessions end after this long without a datagram (PORTPILOT_UDP_IDLE_MS): long enough to count
// them once the clients are done, short enough to see them go.
const IDLE_MS = 12_000;
const WAIT_MS = 20_000;

let ssh: SshEngine;
let namespace: PidNamespace;
let containerId: string;
let echo: number;
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
});

const udpRows = async () => {
  const run = await namespace.cli(['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter(
    (row) => row.containerId === containerId && row.protocol === 'udp',
  );
};
const udpRow = async (port: number) => (await udpRows()).find((row) => row.containerPort === port);

/** The container's connected UDP sockets that send to its own `port`: the agent's session sockets. */
async function sessionSocketsTo(port: number): Promise<number> {
  const tables = await execa(DOCKER_COMMAND, ['exec', containerId, 'cat', '/proc/net/udp', '/proc/net/udp6']);
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return tables.stdout.split('\n').filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[3] === '01' && fields[2]?.endsWith(suffix) === true;
  }).length;
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => (socket.close(), resolve(false)));
    socket.bind({ address: '127.0.0.1', port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

// A container on no network behind DOCKER_HOST=ssh://, forwarded from a pid namespace that cannot see
// the engine's pids: no direct send, no namespace helper; datagrams should take the mux channel.
beforeAll(async () => {
  const container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'none'] });
  containerId = container.id;
  echo = await freeServerPort();
  ssh = await startSshEngine();
  namespace = await startPidNamespace(stateDir);
  const up = await namespace.cli(['up', '--container-id', containerId, '--auto-forward'], {
    ...ssh.env,
    PORTPILOT_UDP_IDLE_MS: String(IDLE_MS),
  });
  const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
  expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
  // Started after the forwarder: both are detected, through the channel's listener reports.
  await startDnsmasq(containerId, DNS_PORT, '127.0.0.1');
  await startUdpEcho(containerId, '127.0.0.1', echo);
  await waitFor(async () => (await udpRows()).length === 2, WAIT_MS, 'both UDP servers forwarded');
});

describe('UDP over the mux channel to a container behind DOCKER_HOST=ssh:// that the host cannot route to', () => {
  it("forwards dnsmasq on the container's 127.0.0.1:5353: dig on the host answers, ports says path mux", async () => {
    const row = await udpRow(DNS_PORT);
    expect(row).toMatchObject({ protocol: 'udp', path: 'mux', origin: 'detected' });
    const hostPort = row?.hostPort ?? 0;
    expect(await dig('127.0.0.1', hostPort)).toBe(DNS_ANSWER);
    expect(await dig('::1', hostPort)).toBe(DNS_ANSWER);
  });

  it(`echoes ${CLIENTS * DATAGRAMS_PER_CLIENT} datagrams of 1 to 65,507 bytes from ${CLIENTS} clients at once, each reply unchanged to its own sender, each client a peer of its own`, async () => {
    const row = await udpRow(echo);
    expect(row).toMatchObject({ hostPort: echo, path: 'mux' });
    await expectEchoedToEachSender(echo, CLIENTS, DATAGRAMS_PER_CLIENT, 'udp echo via mux over ssh');
    // The agent holds a socket per client: the server saw each as a peer of its own.
    expect(await sessionSocketsTo(echo)).toBe(CLIENTS);
    // One channel carries them all, and the DNS sessions too.
    expect(await muxAgentsIn(ENGINE, containerId)).toHaveLength(1);
  });

  it('ends the sessions once idle: their sockets in the container close, and a client heard again gets one', async () => {
    await waitFor(
      async () => (await sessionSocketsTo(echo)) === 0,
      IDLE_MS + WAIT_MS,
      'idle sessions closed',
    );
    const client = await udpClient('127.0.0.1', echo);
    try {
      expect((await client.ask(Buffer.from('again'))).toString()).toBe('again');
      expect(await sessionSocketsTo(echo)).toBe(1);
    } finally {
      client.close();
    }
  });

  it('leaves nothing after down: no forwarder, no ssh link, no engine client, UDP host ports free', async () => {
    const ports = (await udpRows()).map((row) => row.hostPort);
    expect(forwarderHostPid(containerId)).not.toBeNull();
    const down = await namespace.cli(['down', '--container-id', containerId], ssh.env);
    expect(down.exitCode, down.stderr).toBe(0);
    await waitFor(() => forwarderHostPid(containerId) === null, 10_000, 'the forwarder to exit');
    await waitFor(() => sshClientPids(ssh.port).length === 0, 10_000, 'the ssh link to close');
    const state = await execa(DOCKER_COMMAND, ['inspect', '-f', '{{.State.Running}}', containerId]);
    expect(state.stdout.trim()).toBe('false');
    await waitFor(() => hostProcessesNaming(containerId).length === 0, 10_000, 'no engine client left').catch(
      () => expect(hostProcessesNaming(containerId)).toEqual([]),
    );
    expect(ports).toHaveLength(2);
    for (const port of ports) expect(await udpPortFree(port)).toBe(true);
  });
});
