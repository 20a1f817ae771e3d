/**
 * How many times something started on demand that ended on its own (an agent killed in the
 * container, a channel whose exec died) is started again at once, at the next use; after that, each
 * such end counts as a failed start.
 */
export const RESTARTS_AT_ONCE = 3;
/**
 * After a failed start, uses take the next path for this long before a start is tried again; each
 * further failure in a row doubles the wait, up to RETRY_MAX_MS. A container that cannot run it costs
 * one failed start every few minutes at most, and one that could not for a moment (an engine under
 * load, a full disk) gets it back.
 */
export const RETRY_MIN_MS = 5_000;
export const RETRY_MAX_MS = 300_000;

/** Pure: how long to wait before the next start after `failures` failed starts in a row (≥ 1). */
export function retryDelayAfterFailures(failures: number, minMs = RETRY_MIN_MS): number {
  const doublings = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(minMs * 2 ** doublings, Math.max(RETRY_MAX_MS, minMs));
}

/** What an OnDemand starts: something that runs until it ends on its own or is closed. */
export interface Started {
  readonly alive: boolean;
  close(): Promise<void>;
}

export interface OnDemandOptions<T> {
  /** With no user for this long, it is stopped (and started again at the next use); unset: never. */
  idleMs?: number;
  /** See RETRY_MIN_MS. */
  retryMinMs?: number;
  /** Told when a start failed (or it ended on its own too often), with how long until the next try. */
  onStartFailed?: (retryInMs: number, reason: string) => void;
  /** Told when an idle one is stopped, before it is closed. */
  onIdleStop?: (idleMs: number, stopped: T) => void;
  /** Told once an idle one has been closed. */
  afterIdleStop?: (stopped: T) => void;
}

/**
 * The life of something a forwarder starts in or for a container only when a connection first needs
 * it (the relay agent, the mux channel, the namespace helper): the first use waits for the start, the
 * ones after it find it running; one that ended on its own is started again at once a few times
 * (RESTARTS_AT_ONCE), then after a back-off; a failed start makes `usable` false for the back-off
 * (uses take the next path meanwhile); with no user for `idleMs` it is stopped.
 */
export class OnDemand<T extends Started> {
  private current: T | null = null;
  private starting: Promise<T | null> | null = null;
  private restartsLeft = RESTARTS_AT_ONCE;
  /** Failed starts in a row, and when the next start may be tried. */
  private failures = 0;
  private retryAt = 0;
  private closed = false;
  /** Uses in progress (see acquire). */
  private users = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;

  /** `start` resolves to null, or rejects with the reason, when it cannot run now. */
  constructor(
    private readonly start: () => Promise<T | null>,
    private readonly options: OnDemandOptions<T> = {},
  ) {}

  /** False while a failed start's back-off lasts, or once closed. */
  get usable(): boolean {
    return !this.closed && Date.now() >= this.retryAt;
  }

  /** The one running now, or null. */
  get live(): T | null {
    return this.current?.alive === true ? this.current : null;
  }

  /** True while one is being started. */
  get isStarting(): boolean {
    return this.starting !== null;
  }

  /** One use begins: no idle stop until release(). Resolves to the running one, or null when none can run. */
  async acquire(): Promise<T | null> {
    this.users += 1;
    this.cancelIdle();
    return this.ensure();
  }

  /** One use (see acquire) has ended. */
  release(): void {
    this.users -= 1;
    const idleMs = this.options.idleMs;
    if (this.users > 0 || this.closed || idleMs === undefined) return;
    this.idleTimer = setTimeout(() => this.stopIdle(idleMs), idleMs).unref();
  }

  /** The running one, started first when none runs; null when none can run now. */
  async ensure(): Promise<T | null> {
    if (this.current?.alive) return this.current;
    if (!this.usable) return null;
    if (this.current !== null) {
      // It ended on its own: start another at once, a few times.
      this.current = null;
      if (this.restartsLeft === 0) {
        this.recordFailure('it ended on its own too often');
        return null;
      }
      this.restartsLeft -= 1;
    }
    this.starting ??= this.start()
      .then(
        (started) => ({ started, reason: 'it could not start' }),
        (error: unknown) => ({
          started: null,
          reason: error instanceof Error ? error.message : String(error),
        }),
      )
      .then(({ started, reason }) => {
        this.starting = null;
        this.current = started;
        if (started === null) this.recordFailure(reason);
        else this.failures = 0;
        return started;
      });
    const started = await this.starting;
    // close() ends one that was still starting; nothing goes through it.
    return this.closed ? null : started;
  }

  /** Ends the running one, or the one being started, and keeps any other from starting. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelIdle();
    const pending = this.starting;
    await this.current?.close();
    await (await pending)?.close();
    await this.stopping;
  }

  private recordFailure(reason: string): void {
    this.failures += 1;
    const retryInMs = retryDelayAfterFailures(this.failures, this.options.retryMinMs);
    this.retryAt = Date.now() + retryInMs;
    if (!this.closed) this.options.onStartFailed?.(retryInMs, reason);
  }

  private cancelIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  // Not counted as an end of its own: the next use starts a fresh one, restarts untouched.
  private stopIdle(idleMs: number): void {
    this.idleTimer = null;
    const running = this.current;
    if (this.users > 0 || this.closed || this.starting !== null || running?.alive !== true) return;
    this.current = null;
    this.options.onIdleStop?.(idleMs, running);
    this.stopping = running.close().then(() => {
      this.stopping = null;
      this.options.afterIdleStop?.(running);
    });
  }
}
