import type { Socket } from 'node:net';
import type { SocketListener } from '../../detect/proc-net-tcp.js';
import type { RelayAgent } from './agent-process.js';
import {
  OnDemand,
  RESTARTS_AT_ONCE,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
  retryDelayAfterFailures,
} from '../on-demand.js';

/** See RESTARTS_AT_ONCE, RETRY_MIN_MS and RETRY_MAX_MS (on-demand.ts): the agent's are those. */
export const AGENT_RESTARTS = RESTARTS_AT_ONCE;
export const AGENT_RETRY_MIN_MS = RETRY_MIN_MS;
export const AGENT_RETRY_MAX_MS = RETRY_MAX_MS;

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
export const agentRetryDelayMs = retryDelayAfterFailures;

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
  private readonly lifecycle: OnDemand<RelayAgent>;
  /** For STOPPED_AGENT_HOLD_MS after an idle agent stopped, its port. */
  private stoppedPort: number | null = null;

  /** `address`: the container address the agent will listen on. */
  constructor(
    readonly address: string,
    start: AgentStarter,
    options: OnDemandAgentOptions = {},
  ) {
    this.lifecycle = new OnDemand(start, {
      idleMs: options.idleMs ?? AGENT_IDLE_MS,
      retryMinMs: options.retryMinMs,
      onStartFailed: (retryInMs) => options.onStartFailed?.(retryInMs),
      onIdleStop: (idleMs, agent) => {
        this.stoppedPort = agent.port;
        options.onIdleStop?.(idleMs);
      },
      afterIdleStop: (agent) => {
        setTimeout(() => {
          if (this.stoppedPort === agent.port) this.stoppedPort = null;
        }, STOPPED_AGENT_HOLD_MS).unref();
      },
    });
  }

  /** False while a failed start's back-off lasts (or once closed): connections go through exec instead. */
  get usable(): boolean {
    return this.lifecycle.usable;
  }

  /** True while an agent runs in the container. */
  get running(): boolean {
    return this.lifecycle.live !== null;
  }

  /**
   * Opens a connection to address:port in the container through the agent, starting it first when
   * none runs; null when no agent can run (the caller falls back to exec). See RelayAgent.connect.
   */
  async connect(address: string, port: number, destination?: Socket): Promise<Socket | null> {
    let socket: Socket | null = null;
    try {
      const agent = await this.lifecycle.acquire();
      socket = agent === null ? null : await agent.connect(address, port, destination);
      return socket;
    } finally {
      if (socket === null) this.lifecycle.release();
      else socket.once('close', () => this.lifecycle.release());
    }
  }

  /**
   * True for sockets that are the agent's own listener, never the user's. While an agent is being
   * started its port is not known yet, so any listener on its address alone is held back: a server
   * bound to that one address is forwarded one scan later.
   */
  owns(sockets: readonly SocketListener[]): boolean {
    if (sockets.length === 0 || !sockets.every((socket) => socket.address === this.address)) return false;
    if (this.lifecycle.isStarting) return true;
    const ports = [this.stoppedPort, this.lifecycle.live?.port ?? null];
    return sockets.every((socket) => ports.includes(socket.port));
  }

  /** Ends the agent, or the one being started, and keeps any other from starting. */
  close(): Promise<void> {
    return this.lifecycle.close();
  }
}
