import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { portsJson, processAlive, runCli, runUp, type PortRow } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { waitFor } from '../support/containers.js';
import { TEST_IMAGES } from '../support/images.js';
import {
  DNS_ANSWER,
  MAX_UDP_PAYLOAD,
  dig,
  freeServerPort,
  startDnsmasq,
  startUdpEcho,
  udpClient,
  udpPayload,
  udpSizeOf,
} from '../support/udp.js';

const scope = containerScope();
const { stateDir } = scope;
const WAIT_MS = 15_000;
const CLIENTS = 20;
const DATAGRAMS_PER_CLIENT = 50;
const HELPER = /netns-helper\.js/;

async function upFor(containerId: string): Promise<number> {
  const { run, line } = await runUp(stateDir, ['--container-id', containerId, '--auto-forward']);
  expect(line.outcome, run.stderr).toBe('success');
  return line.forwarder?.pid ?? 0;
}

function udpRow(containerId: string, port: number) {
  return async (): Promise<PortRow | undefined> =>
    (await portsJson(stateDir)).find(
      (row) => row.containerId === containerId && row.containerPort === port && row.protocol === 'udp',
    );
}

/** The pids of the forwarder's namespace helpers. */
function helpersOf(pid: number): number[] {
  const helpers: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (HELPER.test(readFileSync(`/proc/${name}/cmdline`, 'utf8'))) helpers.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return helpers;
}

describe("UDP forwarding to a server on the container's loopback, through its namespace helper", () => {
  it.each(['127.0.0.1', '::1'])(
    'dnsmasq bound to the container\'s %s: dig on the host answers, ports shows path "netns"',
    async (address) => {
      const container = await scope.start(TEST_IMAGES.debian.tag);
      const port = await freeServerPort();
      await upFor(container.id);
      await startDnsmasq(container.id, port, address);
      const row = await waitFor(udpRow(container.id, port), WAIT_MS, `UDP port ${port} forwarded`);
      expect(row).toMatchObject({ hostPort: port, protocol: 'udp', path: 'netns' });
      expect(await dig('127.0.0.1', port)).toBe(DNS_ANSWER);
      expect(await dig('::1', port)).toBe(DNS_ANSWER);
    },
  );

  it(`echoes ${CLIENTS * DATAGRAMS_PER_CLIENT} datagrams of 1 to ${MAX_UDP_PAYLOAD} bytes from ${CLIENTS} clients at once, each reply unchanged to its own sender; nothing left after down`, async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeServerPort();
    const pid = await upFor(container.id);
    await startUdpEcho(container.id, '127.0.0.1', port);
    const row = await waitFor(udpRow(container.id, port), WAIT_MS, `UDP port ${port} forwarded`);
    expect(row?.path).toBe('netns');
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => udpClient(i % 2 === 0 ? '127.0.0.1' : '::1', port)),
    );
    try {
      const started = Date.now();
      await Promise.all(
        clients.map(async (client, id) => {
          for (let seq = 0; seq < DATAGRAMS_PER_CLIENT; seq++) {
            const sent = udpPayload(id, seq, udpSizeOf(seq * CLIENTS + id));
            const answer = await client.ask(sent, { retryMs: 500, timeoutMs: 30_000 });
            expect(answer.equals(sent), `client ${id} datagram ${seq}`).toBe(true);
          }
        }),
      );
      const seconds = (Date.now() - started) / 1000;
      const resent = clients.reduce((sum, c) => sum + c.resent, 0);
      console.log(
        `udp echo via netns: ${CLIENTS * DATAGRAMS_PER_CLIENT} round trips in ${seconds.toFixed(1)} s, ${resent} resent`,
      );
      clients.forEach((client, id) => {
        for (const message of client.received) {
          if (message.length < 8) expect(message.every((b) => b === id + 1)).toBe(true);
          else expect(message.readUInt16BE(0)).toBe(id);
        }
      });
    } finally {
      for (const client of clients) client.close();
    }
    // One helper carried every session.
    const helpers = helpersOf(pid);
    expect(helpers).toHaveLength(1);

    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    await waitFor(() => !processAlive(helpers[0] ?? 0), 5_000, 'the helper to exit');
  });
});
