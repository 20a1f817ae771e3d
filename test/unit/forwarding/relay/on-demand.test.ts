import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OnDemand, RETRY_MIN_MS, type Started } from '../../../../src/forwarding/relay/on-demand.js';

class Thing implements Started {
  alive = true;
  closed = 0;
  close(): Promise<void> {
    this.alive = false;
    this.closed += 1;
    return Promise.resolve();
  }
}

describe('OnDemand', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('never stops one for idleness without idleMs', async () => {
    const thing = new Thing();
    const lifecycle = new OnDemand(() => Promise.resolve(thing));
    expect(await lifecycle.acquire()).toBe(thing);
    lifecycle.release();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(lifecycle.live).toBe(thing);
    expect(thing.closed).toBe(0);
  });

  it('stops one idle for idleMs, and starts another at the next use', async () => {
    const things = [new Thing(), new Thing()];
    const stopped: number[] = [];
    const lifecycle = new OnDemand(() => Promise.resolve(things.shift() ?? null), {
      idleMs: 1_000,
      onIdleStop: (idleMs) => stopped.push(idleMs),
    });
    const first = await lifecycle.acquire();
    lifecycle.release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toEqual([1_000]);
    expect(first?.alive).toBe(false);
    expect(await lifecycle.acquire()).not.toBe(first);
  });

  it('passes a failed start on with its reason, and is not usable during the back-off', async () => {
    const failures: [number, string][] = [];
    const lifecycle = new OnDemand<Thing>(() => Promise.reject(new Error('no python3 or perl')), {
      onStartFailed: (retryInMs, reason) => failures.push([retryInMs, reason]),
    });
    expect(await lifecycle.ensure()).toBeNull();
    expect(failures).toEqual([[RETRY_MIN_MS, 'no python3 or perl']]);
    expect(lifecycle.usable).toBe(false);
    await vi.advanceTimersByTimeAsync(RETRY_MIN_MS);
    expect(lifecycle.usable).toBe(true);
  });
});
