import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_IDLE_MS, IDLE_FIRST_PORT, IDLE_PORTS, IDLE_SETTLE_MS, IDLE_WINDOW_MS } from '../config.js';
import { progress } from '../log.js';
import { startContainer, startIdleListeners } from '../setup/containers.js';
import type { Portpilot } from '../setup/portpilot.js';
import { containerCgroup, rssBytes, treeCpuSeconds, treeRss, type ContainerCgroup } from './proc.js';

/** What an idle forwarder costs. */
export interface IdleResult {
  ports: number;
  /** `ports --json` paths of the forwarded ports, e.g. { direct: 5, exec: 5 }. */
  paths: Record<string, number>;
  windowS: number;
  /** CPU seconds per minute: the daemon and its descendants on the host. */
  hostCpuSPerMin: number;
  /** CPU seconds per minute of everything in the container that the bench did not start (its relays). */
  containerCpuSPerMin: number;
  totalCpuSPerMin: number;
  /** RSS of the daemon and the children it keeps, host side. */
  hostRssMB: number;
  hostProcesses: number;
  /** RSS of the processes it keeps in the container (none for a forwarder that keeps none). */
  containerRssMB: number;
  containerProcesses: number;
  /**
   * The same RSS readings once every forwarded port has had one connection (opened, then closed)
   * and the forwarder has settled again: the relay agent, started by the first loopback
   * connection, still runs.
   */
  afterUse: RssReading;
  /** And once more after AGENT_IDLE_MS with no connection: the forwarder idle again after use. */
  afterIdleSpell: RssReading;
  /** How long after the connections afterIdleSpell was read, in seconds. */
  idleSpellS: number;
}

/** RSS of the forwarder's processes, host side and container side. */
export interface RssReading {
  hostRssMB: number;
  hostProcesses: number;
  containerRssMB: number;
  containerProcesses: number;
}

/**
 * Forwards IDLE_PORTS listeners (half bound to 0.0.0.0, half to 127.0.0.1) of a container of its own
 * that does nothing else, lets it settle, then reads CPU over IDLE_WINDOW_MS with no traffic: host
 * side from /proc (utime+stime, reaped children included) of the daemon and its descendants;
 * container side from the container's cgroup, whose only other processes (`sleep infinity`, a
 * listener that never accepts) use none.
 */
export async function measureIdleCost(image: string, portpilot: Portpilot): Promise<IdleResult> {
  const container = await startContainer(image, 'idle');
  try {
    const half = IDLE_PORTS / 2;
    const addresses = Array.from({ length: IDLE_PORTS }, (_, i) => ({
      host: i < half ? '0.0.0.0' : '127.0.0.1',
      port: IDLE_FIRST_PORT + i,
    }));
    await startIdleListeners(container, addresses);
    const cgroup = await containerCgroup(container.initPid);
    const benchPids = new Set(await cgroup.pids());
    const pid = await portpilot.up(container.id, 'auto');
    const rows = await portpilot.waitForwarded(
      container.id,
      addresses.map((address) => address.port),
    );
    const paths: Record<string, number> = {};
    for (const row of rows.values()) paths[row.path] = (paths[row.path] ?? 0) + 1;
    await sleep(IDLE_SETTLE_MS);

    progress(
      `idle cost: ${IDLE_PORTS} ports forwarded, reading CPU for ${IDLE_WINDOW_MS / 1000} s meanwhile`,
    );
    const host0 = await treeCpuSeconds(pid);
    const container0 = await cgroup.cpuSeconds();
    const started = Date.now();
    await sleep(IDLE_WINDOW_MS);
    const host1 = await treeCpuSeconds(pid);
    const container1 = await cgroup.cpuSeconds();
    const minutes = (Date.now() - started) / 60_000;

    const rss = () => readRss(pid, cgroup, benchPids);
    const idle = await rss();
    const hostCpuSPerMin = (host1 - host0) / minutes;
    const containerCpuSPerMin = (container1 - container0) / minutes;

    progress('idle cost: one connection to every forwarded port, then RSS again');
    const agentPorts = [...rows.values()].filter((row) => row.path === 'agent').length;
    await Promise.all([...rows.values()].map((row) => touch(row.hostPort)));
    if (agentPorts > 0) {
      await waitUntil(async () => (await rss()).containerProcesses > 0, AGENT_START_WAIT_MS);
    }
    await sleep(IDLE_SETTLE_MS);
    const afterUse = await rss();

    const idleSpellMs = AGENT_IDLE_MS + IDLE_SETTLE_MS;
    progress(`idle cost: RSS again once the ports have had no connection for ${idleSpellMs / 1000} s`);
    await sleep(idleSpellMs - IDLE_SETTLE_MS);
    return {
      ports: rows.size,
      paths,
      windowS: minutes * 60,
      hostCpuSPerMin,
      containerCpuSPerMin,
      totalCpuSPerMin: hostCpuSPerMin + containerCpuSPerMin,
      ...idle,
      afterUse,
      afterIdleSpell: await rss(),
      idleSpellS: idleSpellMs / 1000,
    };
  } finally {
    await portpilot.down(container.id);
  }
}

/** How long the relay agent may take to appear after the first loopback connection. */
const AGENT_START_WAIT_MS = 15_000;

async function readRss(
  pid: number,
  cgroup: ContainerCgroup,
  benchPids: ReadonlySet<number>,
): Promise<RssReading> {
  const host = await treeRss(pid);
  const kept = (await cgroup.pids()).filter((p) => !benchPids.has(p));
  const keptRss = (await Promise.all(kept.map(rssBytes))).reduce((a, b) => a + b, 0);
  return {
    hostRssMB: host.bytes / 1e6,
    hostProcesses: host.processes,
    containerRssMB: keptRss / 1e6,
    containerProcesses: kept.length,
  };
}

/**
 * Opens one connection to the host port and resets it a moment later. Not a plain close: the idle
 * servers never accept, so a half-close passed on to them would never be answered, and the relay
 * (rightly) keeps waiting for the server's side; a reset ends both sides at once.
 */
function touch(hostPort: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: hostPort });
    socket.once('connect', () => setTimeout(() => socket.resetAndDestroy(), 500));
    socket.once('error', (error) => reject(new Error(`port ${hostPort}: ${error.message}`)));
    socket.once('close', () => resolve());
  });
}

async function waitUntil(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`the relay agent did not start within ${timeoutMs} ms`);
    await sleep(100);
  }
}
