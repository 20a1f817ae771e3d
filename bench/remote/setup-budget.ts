import { CONNECT_TIMEOUT_MS } from '../config.js';
import { connectToFirstByte } from '../measure/client.js';
import type { SetupTally } from '../measure/connection-setup.js';
import type { Reachable } from '../setup/topology.js';

/**
 * Times sequential connections to the path's greeting server after one warm-up: `max` of them, or
 * fewer once `min` are timed and `budgetMs` has passed (an exec over SSH per connection is slow).
 */
export async function timeSetupWithin(
  path: Reachable,
  limits: { min: number; max: number; budgetMs: number },
): Promise<SetupTally> {
  const tally: SetupTally = { samples: [], errors: [] };
  const started = Date.now();
  for (let i = 0; i <= limits.max; i++) {
    if (tally.samples.length >= limits.min && Date.now() - started > limits.budgetMs) break;
    try {
      const { socket, firstByteMs } = await connectToFirstByte(path.endpoints.greeting, CONNECT_TIMEOUT_MS);
      socket.destroy();
      if (i > 0) tally.samples.push(firstByteMs);
    } catch (error) {
      tally.errors.push(error instanceof Error ? error.message : String(error));
      if (tally.errors.length > limits.min) break;
    }
  }
  return tally;
}
