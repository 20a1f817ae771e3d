/** The same warning is logged at most once in this window; the repeats are counted, not written. */
export const REPEATED_WARNING_WINDOW_MS = 1_000;

/** What to do with one warning: write it (with how many like it were held back before it), or not. */
export type ThrottleVerdict = { write: true; suppressed: number } | { write: false };

/**
 * Pure state: decides which repeats of a warning reach the log. A flood of connections that cannot be
 * relayed (the container's server down, the forwarder out of file descriptors) would otherwise write
 * a line each, megabytes a second, rotating away the lines that say what happened.
 */
export class WarningThrottle {
  private readonly seen = new Map<string, { lastWrittenAt: number; suppressed: number }>();

  constructor(private readonly windowMs = REPEATED_WARNING_WINDOW_MS) {}

  /** Whether the warning `key` (its message) seen at `now` is written. */
  admit(key: string, now: number): ThrottleVerdict {
    const entry = this.seen.get(key);
    if (entry && now - entry.lastWrittenAt < this.windowMs) {
      entry.suppressed += 1;
      return { write: false };
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.set(key, { lastWrittenAt: now, suppressed: 0 });
    // Keys are messages written in the code, so the map stays small; drop stale ones all the same.
    if (this.seen.size > MAX_KEYS) this.forgetOlderThan(now - this.windowMs);
    return { write: true, suppressed };
  }

  private forgetOlderThan(time: number): void {
    for (const [key, entry] of this.seen) if (entry.lastWrittenAt < time) this.seen.delete(key);
  }
}

const MAX_KEYS = 256;
