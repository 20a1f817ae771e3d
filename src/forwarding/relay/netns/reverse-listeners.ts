import type { Socket } from 'node:net';

/** A listener the namespace helper keeps inside the container's namespace (see NamespaceHelper.listen). */
export interface ReverseListener {
  /** Resolves once the first helper listens; rejects with why it could not (it is tried again). */
  readonly listening: Promise<void>;
  /** Stops listening, now and after any restart of the helper. */
  close(): void;
}

/** What ReverseListeners asks of the helper. */
export interface ReverseListenersOptions {
  /** Asks the running (or a fresh) helper to listen: the request id and helper pid, or null (none runs). */
  send: (host: string, port: number) => Promise<{ id: number; pid: number } | null>;
  /** Asks the running helper to stop the listener of request `listenId`. */
  stop: (listenId: number) => Promise<void>;
  /** How long to wait before trying again after `failures` failed tries in a row. */
  retryMs: (failures: number) => number;
}

interface Entry<A> {
  host: string;
  port: number;
  onSocket: (accepted: A) => void;
  /** The helper and request that listen for it now, or null. */
  current: { id: number; pid: number } | null;
  closed: boolean;
  failures: number;
  timer: NodeJS.Timeout | null;
  settle: ((error?: Error) => void) | null;
}

/**
 * The listeners asked of the namespace helper (or of the mux agent: mux-reverse.ts), kept across its
 * life: when a helper dies (or the container restarts and the next helper is another process), each
 * listener is asked of the next helper, at once and then after a back-off while none can run or the
 * port cannot be had. `A` is what an accepted connection comes as (the helper's: a socket).
 */
export class ReverseListeners<A = Socket> {
  private readonly entries = new Set<Entry<A>>();

  constructor(private readonly options: ReverseListenersOptions) {}

  add(host: string, port: number, onSocket: (accepted: A) => void): ReverseListener {
    const entry: Entry<A> = {
      host,
      port,
      onSocket,
      current: null,
      closed: false,
      failures: 0,
      timer: null,
      settle: null,
    };
    const listening = new Promise<void>((resolve, reject) => {
      entry.settle = (error) => (error ? reject(error) : resolve());
    });
    // The caller may only look at `listening` later: a rejection is not left unhandled meanwhile.
    listening.catch(() => undefined);
    this.entries.add(entry);
    void this.establish(entry);
    return { listening, close: () => this.remove(entry) };
  }

  /** A connection the helper `pid`'s listener of request `id` accepted: false when no listener wants it. */
  accepted(pid: number, id: number, accepted: A): boolean {
    for (const entry of this.entries) {
      if (entry.current?.pid === pid && entry.current.id === id) {
        entry.onSocket(accepted);
        return true;
      }
    }
    return false;
  }

  /** The helper `pid` is gone: its listeners with it. Each is asked of the next helper. */
  helperGone(pid: number): void {
    for (const entry of this.entries) {
      if (entry.current?.pid !== pid) continue;
      entry.current = null;
      this.schedule(entry, 0);
    }
  }

  closeAll(): void {
    for (const entry of [...this.entries]) this.remove(entry);
  }

  private remove(entry: Entry<A>): void {
    entry.closed = true;
    this.entries.delete(entry);
    if (entry.timer) clearTimeout(entry.timer);
    entry.settle?.(new Error('closed before it listened'));
    entry.settle = null;
    if (entry.current) void this.options.stop(entry.current.id);
    entry.current = null;
  }

  private schedule(entry: Entry<A>, delayMs: number): void {
    if (entry.closed || entry.timer) return;
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void this.establish(entry);
    }, delayMs);
    entry.timer.unref();
  }

  private async establish(entry: Entry<A>): Promise<void> {
    let error: Error;
    try {
      const listening = await this.options.send(entry.host, entry.port);
      if (listening !== null) {
        if (entry.closed) {
          void this.options.stop(listening.id);
          return;
        }
        entry.current = listening;
        entry.failures = 0;
        entry.settle?.();
        entry.settle = null;
        return;
      }
      error = new Error("no helper can run in the container's network namespace");
    } catch (caught) {
      error = caught instanceof Error ? caught : new Error(String(caught));
    }
    entry.failures += 1;
    entry.settle?.(error);
    entry.settle = null;
    // An address the namespace does not have (::1 without IPv6) will not come: not asked again.
    if ((error as { errno?: unknown }).errno === 'EADDRNOTAVAIL') return;
    this.schedule(entry, this.options.retryMs(entry.failures));
  }
}
