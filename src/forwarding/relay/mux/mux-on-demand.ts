import type { Socket } from 'node:net';
import { AGENT_RESTARTS, agentRetryDelayMs } from '../agent/agent-on-demand.js';
import type { MuxChannel, MuxRelay } from './mux-channel.js';

/** Starts one channel: resolves to null (having logged why) when none can run. */
export type MuxStarter = () => Promise<MuxChannel | null>;

export interface OnDemandMuxOptions {
  /** With no stream open for this long, the channel is closed (see AGENT_IDLE_MS). */
  idleMs: number;
  /** See AGENT_RETRY_MIN_MS. */
  retryMinMs?: number;
  /** Told when a start failed, with how long until the next try. */
  onStartFailed?: (retryInMs: number) => void;
  /** Told when an idle channel is closed. */
  onIdleStop?: (idleMs: number) => void;
}

/**
 * A container's mux channel, started by the first connection that needs it and kept while
 * connections use it, as the relay agent is (see OnDemandAgent): once no stream has been open for
 * `idleMs` it is closed; one that died (its exec ended, or it stopped answering pings) is started
 * again by the next connection, a few times at once, then after a back-off. While a start's back-off
 * lasts, connections go through exec.
 */
export class OnDemandMux {
  private current: MuxChannel | null = null;
  private starting: Promise<MuxChannel | null> | null = null;
  private restartsLeft = AGENT_RESTARTS;
  private failures = 0;
  private retryAt = 0;
  private closed = false;
  private open = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly start: MuxStarter,
    private readonly options: OnDemandMuxOptions,
  ) {}

  /** False while a failed start's back-off lasts (or once closed): connections go through exec instead. */
  get usable(): boolean {
    return !this.closed && Date.now() >= this.retryAt;
  }

  /** True while a channel runs in the container. */
  get running(): boolean {
    return this.current?.alive === true;
  }

  /**
   * Carries `client` to address:port in the container on the channel, starting one first when none
   * runs: null when none can run (the caller falls back to exec); otherwise, once the target has
   * accepted, the relay (see MuxChannel.relay). Rejects when the target refused.
   */
  async relay(client: Socket, address: string, port: number): Promise<MuxRelay | null> {
    this.open += 1;
    this.cancelIdle();
    let relayed: MuxRelay | null = null;
    try {
      const channel = await this.ensure();
      if (channel === null || client.destroyed) return null;
      relayed = await channel.relay(client, address, port);
      return relayed;
    } finally {
      if (relayed === null) this.release();
      else void relayed.finished.finally(() => this.release());
    }
  }

  /** Ends the channel, or the one being started, and keeps any other from starting. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelIdle();
    const pending = this.starting;
    await this.current?.close();
    await (await pending)?.close();
  }

  private release(): void {
    this.open -= 1;
    if (this.open > 0 || this.closed) return;
    const idleMs = this.options.idleMs;
    this.idleTimer = setTimeout(() => this.stopIdle(idleMs), idleMs).unref();
  }

  private cancelIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private stopIdle(idleMs: number): void {
    this.idleTimer = null;
    const channel = this.current;
    if (this.open > 0 || this.closed || this.starting !== null || channel?.alive !== true) return;
    this.current = null;
    this.options.onIdleStop?.(idleMs);
    void channel.close();
  }

  private recordFailure(): void {
    this.failures += 1;
    const retryInMs = agentRetryDelayMs(this.failures, this.options.retryMinMs);
    this.retryAt = Date.now() + retryInMs;
    if (!this.closed) this.options.onStartFailed?.(retryInMs);
  }

  private async ensure(): Promise<MuxChannel | null> {
    if (this.current?.alive) return this.current;
    if (!this.usable) return null;
    if (this.current !== null) {
      // It died (killed in the container, or hung): start another at once, a few times.
      this.current = null;
      if (this.restartsLeft === 0) {
        this.recordFailure();
        return null;
      }
      this.restartsLeft -= 1;
    }
    this.starting ??= this.start()
      .catch(() => null)
      .then((channel) => {
        this.starting = null;
        this.current = channel;
        if (channel === null) this.recordFailure();
        else this.failures = 0;
        return channel;
      });
    const channel = await this.starting;
    return this.closed ? null : channel;
  }
}
