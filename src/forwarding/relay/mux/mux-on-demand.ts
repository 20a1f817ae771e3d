import type { Socket } from 'node:net';
import { OnDemand } from '../on-demand.js';
import type { MuxChannel, MuxRelay } from './mux-channel.js';
import type { MuxDatagramSession } from './mux-datagram-session.js';
import type { ReportFrame } from '../../detect/listener-report.js';

/** Starts one channel: resolves to null (having logged why) when none can run. */
export type MuxStarter = () => Promise<MuxChannel | null>;

export interface OnDemandMuxOptions {
  /** With no stream open for this long, the channel is closed (see AGENT_IDLE_MS). */
  idleMs: number;
  /** See RETRY_MIN_MS (on-demand.ts). */
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
  private readonly lifecycle: OnDemand<MuxChannel>;
  /** The channel that reports the listener tables, once asked (see watchListeners). */
  private watched: MuxChannel | null = null;
  private watching = false;
  private holding = false;

  constructor(start: MuxStarter, options: OnDemandMuxOptions) {
    this.lifecycle = new OnDemand(start, {
      idleMs: options.idleMs,
      retryMinMs: options.retryMinMs,
      onStartFailed: (retryInMs) => options.onStartFailed?.(retryInMs),
      onIdleStop: (idleMs) => options.onIdleStop?.(idleMs),
    });
  }

  /** False while a failed start's back-off lasts (or once closed): connections go through exec instead. */
  get usable(): boolean {
    return this.lifecycle.usable;
  }

  /** True while a channel runs in the container. */
  get running(): boolean {
    return this.lifecycle.live !== null;
  }

  /**
   * Carries `client` to address:port in the container on the channel, starting one first when none
   * runs: null when none can run (the caller falls back to exec); otherwise, once the target has
   * accepted, the relay (see MuxChannel.relay). Rejects when the target refused.
   */
  async relay(client: Socket, address: string, port: number): Promise<MuxRelay | null> {
    let relayed: MuxRelay | null = null;
    try {
      const channel = await this.lifecycle.acquire();
      if (channel === null || client.destroyed) return null;
      relayed = await channel.relay(client, address, port);
      return relayed;
    } finally {
      if (relayed === null) this.lifecycle.release();
      else void relayed.finished.finally(() => this.lifecycle.release());
    }
  }

  /**
   * Opens a UDP client's session to address:port in the container on the channel (see
   * MuxChannel.openDatagrams), starting one first when none runs; null when none can run. The channel
   * is kept while the session lasts.
   */
  async datagramSession(address: string, port: number): Promise<MuxDatagramSession | null> {
    const channel = await this.lifecycle.acquire();
    if (channel === null || !channel.alive) {
      this.lifecycle.release();
      return null;
    }
    const session = channel.openDatagrams(address, port);
    session.once('ended', () => this.lifecycle.release());
    return session;
  }

  /**
   * Has a channel report the container's serving sockets to `onReport` (see
   * MuxChannel.watchListeners), starting one when none runs; from then on a channel is kept running,
   * idle or not. False when none can run now: call again later (the back-off applies), as after a
   * channel died.
   */
  async watchListeners(onReport: (frame: ReportFrame) => void): Promise<boolean> {
    if (this.watched?.alive) return true;
    // The first call takes a use that is never released: the channel is not stopped for idleness.
    const first = !this.watching;
    this.watching = true;
    const channel = first ? await this.lifecycle.acquire() : await this.lifecycle.ensure();
    if (channel === null) return false;
    channel.watchListeners(onReport);
    this.watched = channel;
    return true;
  }

  /** Asks the watching channel for a full report (see MuxChannel.askFullReport). */
  askFullReport(): void {
    if (this.watched?.alive) this.watched.askFullReport();
  }

  /**
   * The running channel, started first when none runs, for what needs one for as long as the
   * forwarder lives (reverse ports' listeners): from the first call on a channel is kept running, idle
   * or not. Null when none can run now: call again later (the back-off applies).
   */
  async hold(): Promise<MuxChannel | null> {
    // The first call takes a use that is never released, as watchListeners does.
    const first = !this.holding;
    this.holding = true;
    return first ? this.lifecycle.acquire() : this.lifecycle.ensure();
  }

  /** Ends the channel, or the one being started, and keeps any other from starting. */
  close(): Promise<void> {
    return this.lifecycle.close();
  }
}
