import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AGENT_RESTARTS, OnDemandAgent } from '../../../src/forwarding/agent-on-demand.js';
import type { SocketListener } from '../../../src/forwarding/proc-net-tcp.js';
import type { RelayAgent } from '../../../src/forwarding/relay-agent.js';

const ADDRESS = '172.17.0.2';

/** A stand-in agent: connect() hands back a marker socket, exit() makes it die on its own. */
class FakeAgent implements RelayAgent {
  readonly host = ADDRESS;
  alive = true;
  closed = 0;
  readonly connected: string[] = [];
  constructor(readonly port: number) {}
  connect(address: string, port: number): Promise<Socket> {
    this.connected.push(`${address}:${port}`);
    return Promise.resolve({ fake: this.port } as unknown as Socket);
  }
  exit(): void {
    this.alive = false;
  }
  close(): Promise<void> {
    this.alive = false;
    this.closed++;
    return Promise.resolve();
  }
}

/** A starter whose starts are counted; each one resolves when `release` is called. */
function starter(results: (() => FakeAgent | null)[]) {
  const waiting: (() => void)[] = [];
  let starts = 0;
  const start = () =>
    new Promise<RelayAgent | null>((resolve) => {
      const next = results[starts++] ?? (() => null);
      waiting.push(() => resolve(next()));
    });
  return {
    start,
    starts: () => starts,
    release: () => waiting.splice(0).forEach((go) => go()),
  };
}

const listener = (address: string, port: number): SocketListener => ({ family: 4, address, port, inode: 1 });

describe('OnDemandAgent', () => {
  it('starts nothing until a connection needs it, then starts one agent for every waiting connection', async () => {
    const first = new FakeAgent(40000);
    const starts = starter([() => first]);
    const agent = new OnDemandAgent(ADDRESS, starts.start);
    expect(starts.starts()).toBe(0);
    expect(agent.running).toBe(false);
    expect(agent.usable).toBe(true);

    const a = agent.connect('127.0.0.1', 3000);
    const b = agent.connect('127.0.0.1', 3001);
    starts.release();
    expect(await a).toEqual({ fake: 40000 });
    expect(await b).toEqual({ fake: 40000 });
    expect(await agent.connect('127.0.0.1', 3002)).toEqual({ fake: 40000 });
    expect(starts.starts()).toBe(1);
    expect(first.connected).toEqual(['127.0.0.1:3000', '127.0.0.1:3001', '127.0.0.1:3002']);
    expect(agent.running).toBe(true);
  });

  it('answers null for good once a start fails, without trying again', async () => {
    const starts = starter([() => null]);
    const agent = new OnDemandAgent(ADDRESS, starts.start);
    const pending = agent.connect('127.0.0.1', 3000);
    starts.release();
    expect(await pending).toBeNull();
    expect(agent.usable).toBe(false);
    expect(await agent.connect('127.0.0.1', 3000)).toBeNull();
    expect(starts.starts()).toBe(1);
  });

  it('treats a start that throws as one that failed', async () => {
    const agent = new OnDemandAgent(ADDRESS, () => Promise.reject(new Error('exec refused')));
    expect(await agent.connect('127.0.0.1', 3000)).toBeNull();
    expect(agent.usable).toBe(false);
  });

  it(`starts another agent after one exits on its own, ${AGENT_RESTARTS} times, then gives up`, async () => {
    const agents = Array.from({ length: AGENT_RESTARTS + 2 }, (_, i) => new FakeAgent(40000 + i));
    const starts = starter(agents.map((made) => () => made));
    const agent = new OnDemandAgent(ADDRESS, starts.start);
    for (let i = 0; i <= AGENT_RESTARTS; i++) {
      const pending = agent.connect('127.0.0.1', 3000);
      starts.release();
      expect(await pending).toEqual({ fake: 40000 + i });
      agents[i]?.exit();
    }
    expect(await agent.connect('127.0.0.1', 3000)).toBeNull();
    expect(agent.usable).toBe(false);
    expect(starts.starts()).toBe(AGENT_RESTARTS + 1);
  });

  it("owns the running agent's listener, and anything on its address alone while one starts", async () => {
    const running = new FakeAgent(40000);
    const starts = starter([() => running]);
    const agent = new OnDemandAgent(ADDRESS, starts.start);
    expect(agent.owns([listener(ADDRESS, 40000)])).toBe(false);

    const pending = agent.connect('127.0.0.1', 3000);
    expect(agent.owns([listener(ADDRESS, 40000)])).toBe(true);
    expect(agent.owns([listener(ADDRESS, 5000)])).toBe(true);
    expect(agent.owns([listener('127.0.0.1', 5000)])).toBe(false);
    expect(agent.owns([listener(ADDRESS, 5000), listener('127.0.0.1', 5000)])).toBe(false);
    starts.release();
    await pending;

    expect(agent.owns([listener(ADDRESS, 40000)])).toBe(true);
    expect(agent.owns([listener(ADDRESS, 5000)])).toBe(false);
    expect(agent.owns([])).toBe(false);
  });

  it('close() ends the running agent, or one still starting, and starts no other', async () => {
    const running = new FakeAgent(40000);
    const agent = new OnDemandAgent(ADDRESS, () => Promise.resolve(running));
    await agent.connect('127.0.0.1', 3000);
    await agent.close();
    expect(running.closed).toBe(1);
    expect(agent.usable).toBe(false);
    expect(await agent.connect('127.0.0.1', 3000)).toBeNull();

    const late = new FakeAgent(40001);
    const starts = starter([() => late]);
    const starting = new OnDemandAgent(ADDRESS, starts.start);
    const pending = starting.connect('127.0.0.1', 3000);
    const closing = starting.close();
    starts.release();
    await closing;
    expect(await pending).toBeNull();
    expect(late.closed).toBe(1);
  });
});
