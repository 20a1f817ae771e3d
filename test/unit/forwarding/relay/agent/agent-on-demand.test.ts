import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AGENT_IDLE_MS,
  AGENT_IDLE_MS_ENV,
  AGENT_RESTARTS,
  AGENT_RETRY_MAX_MS,
  AGENT_RETRY_MIN_MS,
  OnDemandAgent,
  agentRetryDelayMs,
  STOPPED_AGENT_HOLD_MS,
  agentIdleMs,
} from '../../../../../src/forwarding/relay/agent/agent-on-demand.js';
import type { SocketListener } from '../../../../../src/forwarding/detect/proc-net-tcp.js';
import type { RelayAgent } from '../../../../../src/forwarding/relay/agent/agent-process.js';

const ADDRESS = '172.17.0.2';

/** A stand-in for a relayed connection: `fake` is the port of the agent that made it; emit 'close'. */
class FakeSocket extends EventEmitter {
  constructor(readonly fake: number) {
    super();
  }
}

/** The agent port a connection went through, or null when connect() answered null. */
const via = (socket: Socket | null): number | null => (socket as unknown as FakeSocket | null)?.fake ?? null;

/** A stand-in agent: connect() hands back a FakeSocket, exit() makes it die on its own. */
class FakeAgent implements RelayAgent {
  readonly host = ADDRESS;
  alive = true;
  closed = 0;
  readonly connected: string[] = [];
  constructor(readonly port: number) {}
  connect(address: string, port: number): Promise<Socket> {
    this.connected.push(`${address}:${port}`);
    return Promise.resolve(new FakeSocket(this.port) as unknown as Socket);
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

afterEach(() => {
  vi.useRealTimers();
});

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
    expect(via(await a)).toBe(40000);
    expect(via(await b)).toBe(40000);
    expect(via(await agent.connect('127.0.0.1', 3002))).toBe(40000);
    expect(starts.starts()).toBe(1);
    expect(first.connected).toEqual(['127.0.0.1:3000', '127.0.0.1:3001', '127.0.0.1:3002']);
    expect(agent.running).toBe(true);
  });

  it('after a failed start answers null (exec) for the back-off, then starts again, backing off longer each time', async () => {
    vi.useFakeTimers();
    const good = new FakeAgent(40000);
    const starts = starter([() => null, () => null, () => good]);
    const waits: number[] = [];
    const agent = new OnDemandAgent(ADDRESS, starts.start, { onStartFailed: (ms) => waits.push(ms) });
    const connectNow = async () => {
      const pending = agent.connect('127.0.0.1', 3000);
      starts.release();
      return via(await pending);
    };
    expect(await connectNow()).toBeNull();
    expect(agent.usable).toBe(false);
    await vi.advanceTimersByTimeAsync(AGENT_RETRY_MIN_MS - 1);
    expect(await connectNow()).toBeNull();
    expect(starts.starts()).toBe(1);

    await vi.advanceTimersByTimeAsync(1);
    expect(agent.usable).toBe(true);
    expect(await connectNow()).toBeNull();
    expect(starts.starts()).toBe(2);
    await vi.advanceTimersByTimeAsync(2 * AGENT_RETRY_MIN_MS - 1);
    expect(agent.usable).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await connectNow()).toBe(40000);
    expect(starts.starts()).toBe(3);
    expect(waits).toEqual([AGENT_RETRY_MIN_MS, 2 * AGENT_RETRY_MIN_MS]);
    expect(agent.usable).toBe(true);
  });

  it('backs off from the shortest wait again once a start succeeds', async () => {
    vi.useFakeTimers();
    const first = new FakeAgent(40000);
    const starts = starter([() => null, () => first, () => null]);
    const waits: number[] = [];
    const agent = new OnDemandAgent(ADDRESS, starts.start, { onStartFailed: (ms) => waits.push(ms) });
    for (const wait of [0, AGENT_RETRY_MIN_MS, 0]) {
      await vi.advanceTimersByTimeAsync(wait);
      const pending = agent.connect('127.0.0.1', 3000);
      starts.release();
      await pending;
      if (wait === AGENT_RETRY_MIN_MS) first.exit();
    }
    // The exit of its own was restarted at once, and that start failed: the first wait again.
    expect(waits).toEqual([AGENT_RETRY_MIN_MS, AGENT_RETRY_MIN_MS]);
  });

  it('waits at most AGENT_RETRY_MAX_MS between starts', () => {
    expect(agentRetryDelayMs(1)).toBe(AGENT_RETRY_MIN_MS);
    expect(agentRetryDelayMs(2)).toBe(2 * AGENT_RETRY_MIN_MS);
    expect(agentRetryDelayMs(3)).toBe(4 * AGENT_RETRY_MIN_MS);
    expect(agentRetryDelayMs(50)).toBe(AGENT_RETRY_MAX_MS);
    expect(agentRetryDelayMs(10_000)).toBe(AGENT_RETRY_MAX_MS);
  });

  it('treats a start that throws as one that failed', async () => {
    const agent = new OnDemandAgent(ADDRESS, () => Promise.reject(new Error('exec refused')));
    expect(await agent.connect('127.0.0.1', 3000)).toBeNull();
    expect(agent.usable).toBe(false);
  });

  it(`starts another agent after one exits on its own, ${AGENT_RESTARTS} times at once, then backs off`, async () => {
    vi.useFakeTimers();
    const agents = Array.from({ length: AGENT_RESTARTS + 2 }, (_, i) => new FakeAgent(40000 + i));
    const starts = starter(agents.map((made) => () => made));
    const agent = new OnDemandAgent(ADDRESS, starts.start);
    for (let i = 0; i <= AGENT_RESTARTS; i++) {
      const pending = agent.connect('127.0.0.1', 3000);
      starts.release();
      expect(via(await pending)).toBe(40000 + i);
      agents[i]?.exit();
    }
    expect(await agent.connect('127.0.0.1', 3000)).toBeNull();
    expect(agent.usable).toBe(false);
    expect(starts.starts()).toBe(AGENT_RESTARTS + 1);
    await vi.advanceTimersByTimeAsync(AGENT_RETRY_MIN_MS);
    const pending = agent.connect('127.0.0.1', 3000);
    starts.release();
    expect(via(await pending)).toBe(40000 + AGENT_RESTARTS + 1);
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

  it('stops an agent once no connection has been open through it for the idle time, and starts a fresh one', async () => {
    vi.useFakeTimers();
    const agents = [new FakeAgent(40000), new FakeAgent(40001)];
    const starts = starter(agents.map((made) => () => made));
    const stopped: number[] = [];
    const agent = new OnDemandAgent(ADDRESS, starts.start, {
      idleMs: 1000,
      onIdleStop: (idleMs) => stopped.push(idleMs),
    });
    const pending = [agent.connect('127.0.0.1', 3000), agent.connect('127.0.0.1', 3001)];
    starts.release();
    const [a, b] = await Promise.all(pending);
    (a as unknown as FakeSocket).emit('close');
    await vi.advanceTimersByTimeAsync(5000);
    expect(agents[0]?.closed).toBe(0); // one connection still open

    (b as unknown as FakeSocket).emit('close');
    await vi.advanceTimersByTimeAsync(999);
    expect(agents[0]?.closed).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(agents[0]?.closed).toBe(1);
    expect(stopped).toEqual([1000]);
    expect(agent.running).toBe(false);
    expect(agent.usable).toBe(true);
    // Its listener may still be in a table read before it exited: not a server's.
    expect(agent.owns([listener(ADDRESS, 40000)])).toBe(true);
    await vi.advanceTimersByTimeAsync(STOPPED_AGENT_HOLD_MS);
    expect(agent.owns([listener(ADDRESS, 40000)])).toBe(false);

    const next = agent.connect('127.0.0.1', 3000);
    starts.release();
    expect(via(await next)).toBe(40001);
    expect(starts.starts()).toBe(2);
  });

  it('a connection within the idle time keeps the agent; idle stops spend none of its restarts', async () => {
    vi.useFakeTimers();
    const agents = Array.from({ length: AGENT_RESTARTS + 3 }, (_, i) => new FakeAgent(40000 + i));
    const agent = new OnDemandAgent(
      ADDRESS,
      (() => {
        let next = 0;
        return () => Promise.resolve(agents[next++] ?? null);
      })(),
      { idleMs: 1000 },
    );
    const first = await agent.connect('127.0.0.1', 3000);
    (first as unknown as FakeSocket).emit('close');
    await vi.advanceTimersByTimeAsync(900);
    const second = await agent.connect('127.0.0.1', 3000);
    expect(via(second)).toBe(40000);
    (second as unknown as FakeSocket).emit('close');
    await vi.advanceTimersByTimeAsync(900);
    expect(agents[0]?.closed).toBe(0);

    for (let i = 0; i < AGENT_RESTARTS + 2; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      const socket = await agent.connect('127.0.0.1', 3000);
      expect(via(socket)).toBe(40001 + i);
      (socket as unknown as FakeSocket).emit('close');
    }
    expect(agent.usable).toBe(true);
  });

  it('a failed connect through the agent counts as closed for the idle time', async () => {
    vi.useFakeTimers();
    const refusing = new FakeAgent(40000);
    refusing.connect = () => Promise.reject(new Error('ECONNREFUSED'));
    const agent = new OnDemandAgent(ADDRESS, () => Promise.resolve(refusing), { idleMs: 1000 });
    await expect(agent.connect('127.0.0.1', 3000)).rejects.toThrow('ECONNREFUSED');
    await vi.advanceTimersByTimeAsync(1000);
    expect(refusing.closed).toBe(1);
  });

  it('close() cancels the idle stop', async () => {
    vi.useFakeTimers();
    const running = new FakeAgent(40000);
    const stopped: number[] = [];
    const agent = new OnDemandAgent(ADDRESS, () => Promise.resolve(running), {
      idleMs: 1000,
      onIdleStop: (idleMs) => stopped.push(idleMs),
    });
    ((await agent.connect('127.0.0.1', 3000)) as unknown as FakeSocket).emit('close');
    await agent.close();
    await vi.advanceTimersByTimeAsync(2000);
    expect(running.closed).toBe(1);
    expect(stopped).toEqual([]);
  });
});

describe('agentIdleMs', () => {
  it(`reads ${AGENT_IDLE_MS_ENV} when it is a positive whole number, else AGENT_IDLE_MS`, () => {
    expect(agentIdleMs({})).toBe(AGENT_IDLE_MS);
    expect(agentIdleMs({ [AGENT_IDLE_MS_ENV]: '2000' })).toBe(2000);
    for (const bad of ['', '0', '-5', '1.5', 'soon']) {
      expect(agentIdleMs({ [AGENT_IDLE_MS_ENV]: bad })).toBe(AGENT_IDLE_MS);
    }
  });
});
