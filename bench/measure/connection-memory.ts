import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CONNECT_TIMEOUT_MS,
  MEMORY_CONNECTIONS,
  MEMORY_SETTLE_MS,
  MEMORY_STEADY_BYTES,
  MEMORY_STEADY_MAX_MS,
  MEMORY_STEADY_READINGS,
} from '../config.js';
import type { BenchPath } from '../setup/topology.js';
import { percentile } from '../stats.js';
import { connectToFirstByte } from './client.js';
import { containerCgroup, rssBytes, treeRss } from './proc.js';

/** Memory added by idle open connections. */
export interface MemoryResult {
  connections: number;
  /** Host RSS (relaying process and its descendants) added, in total and per connection. */
  hostDeltaMB: number;
  perConnectionKB: number;
  /** RSS of processes that appeared in the container for them (in-container relays), per connection. */
  containerPerConnectionKB: number;
}

// Opened this many at a time: a burst of a hundred `docker exec`s measures the engine, not memory.
const OPEN_BATCH = 10;
// A garbage-collected daemon's RSS moves by itself: each reading is the median of a few.
const RSS_SAMPLES = 5;
const RSS_SAMPLE_GAP_MS = 200;

async function relayRss(path: BenchPath): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RSS_SAMPLES; i++) {
    if (i > 0) await sleep(RSS_SAMPLE_GAP_MS);
    const sizes = await Promise.all(path.relayPids.map(async (pid) => (await treeRss(pid)).bytes));
    samples.push(sizes.reduce((a, b) => a + b, 0));
  }
  return percentile(samples, 0.5);
}

/** The relaying processes' RSS once it holds still (see MEMORY_STEADY_READINGS), or the last reading. */
async function steadyRelayRss(path: BenchPath): Promise<number> {
  const deadline = Date.now() + MEMORY_STEADY_MAX_MS;
  const readings = [await relayRss(path)];
  for (;;) {
    const recent = readings.slice(-MEMORY_STEADY_READINGS);
    const steady =
      recent.length === MEMORY_STEADY_READINGS &&
      Math.max(...recent) - Math.min(...recent) <= MEMORY_STEADY_BYTES;
    if (steady || Date.now() >= deadline) return recent[recent.length - 1] ?? 0;
    await sleep(1_000);
    readings.push(await relayRss(path));
  }
}

/**
 * Reads the host RSS of the path's relaying processes (daemon plus children) once it holds still, opens
 * MEMORY_CONNECTIONS connections to its greeting server and keeps them open and idle once each has
 * its greeting (so each relay is fully up), then reads it again.
 */
export async function measureConnectionMemory(path: BenchPath): Promise<MemoryResult> {
  const cgroup = await containerCgroup(path.container.initPid);
  const containerBefore = new Set(await cgroup.pids());
  const hostBefore = await steadyRelayRss(path);
  const sockets: Socket[] = [];
  try {
    while (sockets.length < MEMORY_CONNECTIONS) {
      const batch = Math.min(OPEN_BATCH, MEMORY_CONNECTIONS - sockets.length);
      const opened = await Promise.allSettled(
        Array.from({ length: batch }, () => connectToFirstByte(path.endpoints.greeting, CONNECT_TIMEOUT_MS)),
      );
      for (const result of opened) {
        if (result.status === 'fulfilled') sockets.push(result.value.socket);
        else throw result.reason;
      }
    }
    await sleep(MEMORY_SETTLE_MS);
    const hostAfter = await relayRss(path);
    const added = (await cgroup.pids()).filter((pid) => !containerBefore.has(pid));
    const containerAdded = (await Promise.all(added.map(rssBytes))).reduce((a, b) => a + b, 0);
    return {
      connections: sockets.length,
      hostDeltaMB: (hostAfter - hostBefore) / 1e6,
      perConnectionKB: (hostAfter - hostBefore) / 1e3 / sockets.length,
      containerPerConnectionKB: containerAdded / 1e3 / sockets.length,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}
