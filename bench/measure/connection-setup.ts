import { CONNECT_TIMEOUT_MS, SETUP_CONNECTIONS } from '../config.js';
import type { Reachable } from '../setup/topology.js';
import { percentile } from '../stats.js';
import { connectToFirstByte } from './client.js';

/** Connect-to-first-greeting-byte times over sequential connections. */
export interface SetupResult {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Connections timed (failed ones excluded). */
  connections: number;
  /** Connections that failed or timed out, and the first one's error. */
  failures: number;
  firstError: string | null;
}

const WARM_UP_CONNECTIONS = 5;
// More failures than this share means the path did not work: nothing worth a percentile.
const MAX_FAILURE_SHARE = 0.1;

/** One path's timed connections, and the errors of those that failed. */
export interface SetupTally {
  samples: number[];
  errors: string[];
}

/**
 * Times SETUP_CONNECTIONS sequential connections to each path's greeting server, after a short
 * warm-up. With several paths they take turns connection by connection, so that the shared machine's
 * drift (its wake-up latency moved the same path's p50 by half from one block of 200 to the next)
 * reaches every path alike.
 */
export async function timeConnectionSetup(
  paths: readonly Reachable[],
  connections = SETUP_CONNECTIONS,
): Promise<SetupTally[]> {
  const tallies = paths.map((): SetupTally => ({ samples: [], errors: [] }));
  for (let i = 0; i < WARM_UP_CONNECTIONS + connections; i++) {
    for (const [index, path] of paths.entries()) {
      const tally = tallies[index];
      if (!tally) continue;
      try {
        const { socket, firstByteMs } = await connectToFirstByte(path.endpoints.greeting, CONNECT_TIMEOUT_MS);
        socket.destroy();
        if (i >= WARM_UP_CONNECTIONS) tally.samples.push(firstByteMs);
      } catch (error) {
        tally.errors.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
  return tallies;
}

/** The figures of one path's tally; throws when too many of its connections failed. */
export function setupResult({ samples, errors }: SetupTally, connections = SETUP_CONNECTIONS): SetupResult {
  if (errors.length > MAX_FAILURE_SHARE * connections) {
    throw new Error(`${errors.length} connections failed, the first: ${errors[0]}`);
  }
  return {
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
    connections: samples.length,
    failures: errors.length,
    firstError: errors[0] ?? null,
  };
}
