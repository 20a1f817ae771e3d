import { connect } from 'node:net';
import { THROUGHPUT_BYTES, THROUGHPUT_TIMEOUT_MS } from '../config.js';
import type { Reachable } from '../setup/topology.js';
import { nsToMs } from '../stats.js';
import { coresBusy, machineCpu } from './proc.js';

/** One-way bulk transfer, server to host. */
export interface ThroughputResult {
  /** 10^6 bytes per second, from connect() to the server's EOF: the median run's. */
  mbPerS: number;
  bytes: number;
  seconds: number;
  /**
   * The machine's CPUs busy on average during the run (client, relay, server, kernel and anything
   * else): how close the path came to what the machine can do.
   */
  coresBusy: number;
  /** Every run's MB/s, in the order they ran. */
  runs: number[];
}

/** The median run of several (by MB/s), with every run's figure. */
export function medianRun(runs: readonly ThroughputResult[]): ThroughputResult {
  const sorted = [...runs].sort((a, b) => a.mbPerS - b.mbPerS);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (!median) throw new Error('no throughput run to take the median of');
  return { ...median, runs: runs.map((run) => run.mbPerS) };
}

/** Reads `expected` bytes from the path's source server and times it; any other byte count is an error. */
export async function measureThroughput(
  path: Reachable,
  expected = THROUGHPUT_BYTES,
): Promise<ThroughputResult> {
  const cpuBefore = await machineCpu();
  const { bytes, seconds } = await transfer(path, expected);
  const cores = coresBusy(cpuBefore, await machineCpu());
  const mbPerS = bytes / 1e6 / seconds;
  return { mbPerS, bytes, seconds, coresBusy: cores, runs: [mbPerS] };
}

function transfer(path: Reachable, expected: number): Promise<{ bytes: number; seconds: number }> {
  const { host, port } = path.endpoints.source;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let bytes = 0;
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${bytes} of ${expected} bytes after ${THROUGHPUT_TIMEOUT_MS} ms`));
    }, THROUGHPUT_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`the transfer failed after ${bytes} bytes: ${error.message}`));
    });
    socket.once('end', () => {
      const seconds = nsToMs(process.hrtime.bigint() - started) / 1000;
      clearTimeout(timer);
      socket.destroy();
      if (bytes !== expected) {
        reject(new Error(`received ${bytes} bytes, expected ${expected}`));
      } else {
        resolve({ bytes, seconds });
      }
    });
  });
}
