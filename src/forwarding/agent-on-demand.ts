import type { Socket } from 'node:net';
import type { SocketListener } from './proc-net-tcp.js';
import type { RelayAgent } from './relay-agent.js';

/**
 * How many times an agent that exited on its own is started again (at the next connection that
 * needs it) before its container's loopback ports go through exec for good.
 */
export const AGENT_RESTARTS = 3;

/** Starts one agent: resolves to null (having logged why) when it cannot run. */
export type AgentStarter = () => Promise<RelayAgent | null>;

/**
 * A container's relay agent, started when the first connection needs it rather than with the
 * forwarder: a forwarder whose loopback-bound ports go unused keeps no process in the container
 * (an idle python agent holds about 10 MB). The first connection waits for the start (one exec and
 * an interpreter's start-up, ~0.1 s); the ones after it find the agent running.
 */
export class OnDemandAgent {
  private current: RelayAgent | null = null;
  private starting: Promise<RelayAgent | null> | null = null;
  private restartsLeft = AGENT_RESTARTS;
  private failed = false;
  private closed = false;

  /** `address`: the container address the agent will listen on. */
  constructor(
    readonly address: string,
    private readonly start: AgentStarter,
  ) {}

  /** False once the agent could not start (or was closed): connections go through exec instead. */
  get usable(): boolean {
    return !this.failed && !this.closed;
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
    const agent = await this.ensure();
    return agent === null ? null : agent.connect(address, port, destination);
  }

  /**
   * True for sockets that are the agent's own listener, never the user's. While an agent is being
   * started its port is not known yet, so any listener on its address alone is held back: a server
   * bound to that one address is forwarded one scan later.
   */
  owns(sockets: readonly SocketListener[]): boolean {
    if (sockets.length === 0 || !sockets.every((socket) => socket.address === this.address)) return false;
    if (this.starting !== null) return true;
    return this.current?.alive === true && sockets.every((socket) => socket.port === this.current?.port);
  }

  /** Ends the agent, or the one being started, and keeps any other from starting. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.starting;
    await this.current?.close();
    await (await pending)?.close();
  }

  private async ensure(): Promise<RelayAgent | null> {
    if (this.current?.alive) return this.current;
    if (!this.usable) return null;
    if (this.current !== null) {
      // It exited on its own (killed in the container, say): start another, a few times.
      this.current = null;
      if (this.restartsLeft-- === 0) {
        this.failed = true;
        return null;
      }
    }
    this.starting ??= this.start()
      .catch(() => null)
      .then((agent) => {
        this.starting = null;
        this.current = agent;
        if (agent === null) this.failed = true;
        return agent;
      });
    const agent = await this.starting;
    // close() ends an agent that was still starting; nothing goes through it.
    return this.closed ? null : agent;
  }
}
