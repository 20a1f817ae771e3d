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
  expectEchoedToEachSender,
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
    await expectEchoedToEachSender(port, CLIENTS, DATAGRAMS_PER_CLIENT, 'udp echo via netns');
    // One helper carried every session.
    const helpers = helpersOf(pid);
    expect(helpers).toHaveLength(1);

    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    await waitFor(() => !processAlive(helpers[0] ?? 0), 5_000, 'the helper to exit');
  });
});
