import type { Socket } from 'node:net';
import type { SocketListener } from '../../detect/proc-net-tcp.js';
import type { RelayAgent } from './agent-process.js';

/**
 * How many times an agent that exited on its own is started again at once (at the next connection
 * that needs it); after that, each exit of its own counts as a failed start.
 */
export const AGENT_RESTARTS = 3;
/**
 * After a failed start, connections go through exec for this long before a start is tried again;
 * each further failure in a row doubles the wait, up to AGENT_RETRY_MAX_MS. A container that cannot
 * run an agent (no python3 or perl) costs one failed exec every few minutes at most, and one that
 * could not for a moment (an engine under load, a full disk) gets its agent back.
 */
export const AGENT_RETRY_MIN_MS = 5_000;
export const AGENT_RETRY_MAX_MS = 300_000;

/**
 * How long an agent with no connection open through it keeps running. Then it is stopped, and its
 * memory in the container (about 10 MB for python) given back; the next connection that needs it
 * starts it again (~0.1 s, once).
 */
export const AGENT_IDLE_MS = 60_000;
/** An environment variable that sets AGENT_IDLE_MS for a forwarder (tests make it seconds). */
export const AGENT_IDLE_MS_ENV = 'PORTPILOT_AGENT_IDLE_MS';
/**
 * How long after an idle agent has exited its port is still taken for its own: a scan that read the
 * listener table just before the exit must not forward the agent's port as a server's.
 */
export const STOPPED_AGENT_HOLD_MS = 5_000;

/** Starts one agent: resolves to null (having logged why) when it cannot run. */
export type AgentStarter = () => Promise<RelayAgent | null>;

export interface OnDemandAgentOptions {
  /** See AGENT_IDLE_MS. */
  idleMs?: number;
  /** Told when an idle agent is stopped. */
  onIdleStop?: (idleMs: number) => void;
  /** See AGENT_RETRY_MIN_MS. */
  retryMinMs?: number;
  /** Told when a start failed, with how long until the next try. */
  onStartFailed?: (retryInMs: number) => void;
}

/** Pure: how long to wait before the next start after `failures` failed starts in a row (≥ 1). */
export function agentRetryDelayMs(failures: number, minMs = AGENT_RETRY_MIN_MS): number {
  const doublings = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(minMs * 2 ** doublings, Math.max(AGENT_RETRY_MAX_MS, minMs));
}

/** The agent idle time a forwarder runs with: AGENT_IDLE_MS_ENV when it holds a whole number of ms. */
export function agentIdleMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env[AGENT_IDLE_MS_ENV]);
  return Number.isSafeInteger(value) && value > 0 ? value : AGENT_IDLE_MS;
}

/**
 * A container's relay agent, started when the first connection needs it rather than with the
 * forwarder: a forwarder whose loopback-bound ports go unused keeps no process in the container
 * (an idle python agent holds about 10 MB). The first connection waits for the start (one exec and
 * an interpreter's start-up, ~0.1 s); the ones after it find the agent running. Once no connection
 * has been open through it for AGENT_IDLE_MS, the agent is stopped, to be started again when needed.
 */
export class OnDemandAgent {
  private current: RelayAgent | null = null;
  private starting: Promise<RelayAgent | null> | null = null;
  private restartsLeft = AGENT_RESTARTS;
  /** Failed starts in a row, and when the next start may be tried (see AGENT_RETRY_MIN_MS). */
  private failures = 0;
  private retryAt = 0;
  private closed = false;
  /** Connections open through the agent, and ones being opened. */
  private open = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** An idle agent being stopped, and then for STOPPED_AGENT_HOLD_MS its port. */
  private stopping: Promise<void> | null = null;
  private stoppedPort: number | null = null;

  /** `address`: the container address the agent will listen on. */
  constructor(
    readonly address: string,
    private readonly start: AgentStarter,
    private readonly options: OnDemandAgentOptions = {},
  ) {}

  /** False while a failed start's back-off lasts (or once closed): connections go through exec instead. */
  get usable(): boolean {
    return !this.closed && Date.now() >= this.retryAt;
  }

  /** True while an agent runs in the container. */
  get running(): boolean {
    return this.current?.alive === true;
  }

  /**
   * Opens a connection to address:port in the container through the agent, starting it first when
   * none runs; null when no agent can run (the caller falls back to exec). See RelayAgent.connect.
   */
  async connect(address: string, port: number, destination?: Socket): Promise<Socket | null> {
    this.open += 1;
    this.cancelIdle();
    let socket: Socket | null = null;
    try {
      const agent = await this.ensure();
      socket = agent === null ? null : await agent.connect(address, port, destination);
      return socket;
    } finally {
      if (socket === null) this.release();
      else socket.once('close', () => this.release());
    }
  }

  /**
   * True for sockets that are the agent's own listener, never the user's. While an agent is being
   * started its port is not known yet, so any listener on its address alone is held back: a server
   * bound to that one address is forwarded one scan later.
   */
  owns(sockets: readonly SocketListener[]): boolean {
    if (sockets.length === 0 || !sockets.every((socket) => socket.address === this.address)) return false;
    if (this.starting !== null) return true;
    const ports = [this.stoppedPort, this.current?.alive === true ? this.current.port : null];
    return sockets.every((socket) => ports.includes(socket.port));
  }

  /** Ends the agent, or the one being started, and keeps any other from starting. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelIdle();
    const pending = this.starting;
    await this.current?.close();
    await (await pending)?.close();
    await this.stopping;
  }

  private recordFailure(): void {
    this.failures += 1;
    const retryInMs = agentRetryDelayMs(this.failures, this.options.retryMinMs);
    this.retryAt = Date.now() + retryInMs;
    if (!this.closed) this.options.onStartFailed?.(retryInMs);
  }

  private release(): void {
    this.open -= 1;
    if (this.open > 0 || this.closed) return;
    const idleMs = this.options.idleMs ?? AGENT_IDLE_MS;
    this.idleTimer = setTimeout(() => this.stopIdle(idleMs), idleMs).unref();
  }

  private cancelIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  // Not counted as an exit of its own: the next connection starts a fresh agent, restarts untouched.
  private stopIdle(idleMs: number): void {
    this.idleTimer = null;
    const agent = this.current;
    if (this.open > 0 || this.closed || this.starting !== null || agent?.alive !== true) return;
    this.current = null;
    this.stoppedPort = agent.port;
    this.options.onIdleStop?.(idleMs);
    this.stopping = agent.close().then(() => {
      this.stopping = null;
      setTimeout(() => {
        if (this.stoppedPort === agent.port) this.stoppedPort = null;
      }, STOPPED_AGENT_HOLD_MS).unref();
    });
  }

  private async ensure(): Promise<RelayAgent | null> {
    if (this.current?.alive) return this.current;
    if (!this.usable) return null;
    if (this.current !== null) {
      // It exited on its own (killed in the container, say): start another at once, a few times.
      this.current = null;
      if (this.restartsLeft === 0) {
        this.recordFailure();
        return null;
      }
      this.restartsLeft -= 1;
    }
    this.starting ??= this.start()
      .catch(() => null)
      .then((agent) => {
        this.starting = null;
        this.current = agent;
        if (agent === null) this.recordFailure();
        else this.failures = 0;
        return agent;
      });
    const agent = await this.starting;
    // close() ends an agent that was still starting; nothing goes through it.
    return this.closed ? null : agent;
  }
}
