import lockfile from 'proper-lockfile';
import { privateLockFs } from './private-lock-fs.js';

/** How a lock of the state dir is taken: how it goes stale, how long to wait, what to throw. */
export interface PrivateLockOptions {
  /** A lock its holder stopped refreshing for this long (it died) is broken. */
  staleMs: number;
  /** How often the holder refreshes it. */
  updateMs: number;
  /** How long to keep trying while another process holds it. */
  waitMs: number;
  /** The pause between tries: from minMs, doubling up to maxMs, with random jitter. */
  retryMs: { minMs: number; maxMs: number };
  /** Called if the lock is lost while held; without it, proper-lockfile throws from a timer. */
  onCompromised?: (error: Error) => void;
  /** The error to throw when the lock cannot be made at all (the state dir cannot be written). */
  unusable: (error: unknown) => Error;
  /** The error to throw when another process still holds it after waitMs. */
  busy: (error: unknown) => Error;
}

/**
 * Takes a proper-lockfile lock on `path` (a directory `<path>.lock`, made 0700 by privateLockFs),
 * waiting while another process holds it; resolves with its release.
 */
export async function lockPrivateFile(
  path: string,
  options: PrivateLockOptions,
): Promise<() => Promise<void>> {
  const deadline = Date.now() + options.waitMs;
  let delay = options.retryMs.minMs;
  for (;;) {
    try {
      return await lockfile.lock(path, {
        realpath: false,
        fs: privateLockFs,
        stale: options.staleMs,
        update: options.updateMs,
        retries: 0,
        ...(options.onCompromised ? { onCompromised: options.onCompromised } : {}),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw options.unusable(error);
      if (Date.now() >= deadline) throw options.busy(error);
      // Random jitter keeps many waiting processes from retrying in lockstep.
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
      delay = Math.min(delay * 2, options.retryMs.maxMs);
    }
  }
}
