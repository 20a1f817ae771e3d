import { describe, expect, it } from 'vitest';
import {
  AUTO_FORWARD_CAP,
  RETRY_FAILED_MS,
  WITHDRAW_GRACE_MS,
  declaredRefusal,
  plan,
  type PlanAction,
  type PlanState,
  type PlannedForward,
  type ReadListener,
  type WatchedContainer,
} from '../../../src/forwarding/forward-plan.js';

const CONTAINER: WatchedContainer = { name: 'app', hostNetwork: false, publishedPorts: [] };

/** A server on `port`, listening on every address. */
function listening(port: number, more: Partial<Omit<ReadListener, 'listener'>> = {}): ReadListener {
  return {
    listener: {
      port,
      scope: 'wildcard',
      dialAddress: '127.0.0.1',
      sockets: [{ family: 4, address: '0.0.0.0', port, inode: 1000 + port }],
    },
    process: null,
    agents: false,
    ignored: false,
    ...more,
  };
}

function state(forwards: PlannedForward[] = [], container: WatchedContainer = CONTAINER): PlanState {
  return { container, forwards, limitReported: false, publishedReported: new Set() };
}

function detected(port: number, more: Partial<PlannedForward> = {}): PlannedForward {
  return { port, origin: 'detected', open: true, missedReads: 0, missingSince: 0, lastAttemptAt: 0, ...more };
}

/** The plan's actions as short strings: `open 3000`, `withdraw 3000`… */
function summary(actions: readonly PlanAction[]): string[] {
  return actions.map((a) => `${a.type} ${a.type === 'open' ? a.listener.port : a.port}`);
}

/**
 * Carries a plan out as the supervisor does, as far as the plan's state goes: every open gets its
 * host port unless `taken` holds it.
 */
function step(
  previous: PlanState,
  read: ReadListener[],
  now: number,
  taken: ReadonlySet<number> = new Set(),
): { next: PlanState; actions: PlanAction[] } {
  const result = plan(previous, read, now);
  const forwards = new Map(previous.forwards.map((f) => [f.port, { ...f }]));
  for (const action of result.actions) {
    if (action.type === 'open') {
      const port = action.listener.port;
      forwards.set(port, { ...detected(port), open: !taken.has(port), lastAttemptAt: now });
    } else if (action.type === 'keep') {
      forwards.get(action.port)!.missedReads = 0;
    } else if (action.type === 'retry') {
      Object.assign(forwards.get(action.port)!, { open: !taken.has(action.port), lastAttemptAt: now });
    } else if (action.type === 'miss') {
      Object.assign(forwards.get(action.port)!, action);
    } else if (action.type === 'withdraw') {
      forwards.delete(action.port);
    }
  }
  return {
    next: { ...previous, forwards: [...forwards.values()], ...result },
    actions: result.actions,
  };
}

describe('plan', () => {
  it('forwards a new listener, and keeps one that is there again', () => {
    const first = step(state(), [listening(3000)], 0);
    expect(summary(first.actions)).toEqual(['open 3000']);
    const second = step(first.next, [listening(3000)], 250);
    expect(summary(second.actions)).toEqual(['keep 3000']);
  });

  it('keeps a server that restarts within the grace (flapping), without events', () => {
    let { next } = step(state(), [listening(3000)], 0);
    const actions: string[] = [];
    // Gone for three fast reads, then back: a watcher reloading the server.
    for (const [read, now] of [
      [[], 250],
      [[], 500],
      [[], 750],
      [[listening(3000)], 1_000],
    ] as const) {
      const result = step(next, [...read], now);
      next = result.next;
      actions.push(...summary(result.actions));
    }
    expect(actions).toEqual(['miss 3000', 'miss 3000', 'miss 3000', 'keep 3000']);
    expect(next.forwards).toEqual([expect.objectContaining({ port: 3000, missedReads: 0 })]);
  });

  it('withdraws a listener absent from two reads in a row and for the grace, not before', () => {
    const { next } = step(state(), [listening(3000)], 0);
    const missed = step(next, [], 1_000);
    expect(missed.actions).toEqual([{ type: 'miss', port: 3000, missedReads: 1, missingSince: 1_000 }]);
    // Two misses, but within the grace: it stays.
    const early = step(missed.next, [], 1_000 + WITHDRAW_GRACE_MS - 1);
    expect(summary(early.actions)).toEqual(['miss 3000']);
    const gone = step(early.next, [], 1_000 + WITHDRAW_GRACE_MS);
    expect(gone.actions).toEqual([
      { type: 'withdraw', port: 3000, reason: 'the server in the container stopped listening' },
    ]);
    expect(gone.next.forwards).toEqual([]);
    // One miss alone never withdraws, however long it lasted.
    expect(summary(plan(state([detected(4000)]), [], 60_000).actions)).toEqual(['miss 4000']);
  });

  it('never withdraws a declared forward', () => {
    const declared: PlannedForward = { ...detected(8080), origin: 'declared' };
    expect(plan(state([{ ...declared, missedReads: 5 }]), [], 60_000).actions).toEqual([]);
    expect(summary(plan(state([declared]), [listening(8080)], 0).actions)).toEqual(['keep 8080']);
  });

  it(`forwards at most ${AUTO_FORWARD_CAP} detected ports, says so once, and does not count declared ones`, () => {
    const declared = [1, 2, 3].map((port) => ({ ...detected(port), origin: 'declared' as const }));
    const read = Array.from({ length: AUTO_FORWARD_CAP + 5 }, (_, i) => listening(10_000 + i));
    const first = step(state(declared), read, 0);
    const opened = first.actions.filter((a) => a.type === 'open');
    expect(opened).toHaveLength(AUTO_FORWARD_CAP);
    const failed = first.actions.filter((a) => a.type === 'fail');
    expect(failed).toEqual([
      {
        type: 'fail',
        port: 10_000 + AUTO_FORWARD_CAP,
        reason: `more than ${AUTO_FORWARD_CAP} ports listen in the container; port ${10_000 + AUTO_FORWARD_CAP} and later ones are not auto-forwarded (declare the ones you need with forwardPorts or --forward-port)`,
      },
    ]);
    expect(first.next.limitReported).toBe(true);
    const again = step(first.next, read, 250);
    expect(again.actions.every((a) => a.type === 'keep')).toBe(true);
    // A withdrawn one frees a place for a port over the cap.
    const fewer = [...read.slice(1)];
    let next = step(again.next, fewer, 500).next;
    next = step(next, fewer, 500 + WITHDRAW_GRACE_MS).next;
    expect(summary(step(next, fewer, 3_000).actions)).toContain(`open ${10_000 + AUTO_FORWARD_CAP}`);
  });

  it('retries quietly a port whose host port could not be had (requireLocalPort), every few seconds', () => {
    const taken = new Set([3000]);
    const first = step(state(), [listening(3000)], 0, taken);
    expect(first.next.forwards).toEqual([expect.objectContaining({ port: 3000, open: false })]);
    const soon = step(first.next, [listening(3000)], RETRY_FAILED_MS - 1, taken);
    expect(summary(soon.actions)).toEqual(['keep 3000']);
    const later = step(soon.next, [listening(3000)], RETRY_FAILED_MS, taken);
    expect(summary(later.actions)).toEqual(['keep 3000', 'retry 3000']);
    const freed = step(later.next, [listening(3000)], 2 * RETRY_FAILED_MS);
    expect(summary(freed.actions)).toEqual(['keep 3000', 'retry 3000']);
    expect(summary(step(freed.next, [listening(3000)], 3 * RETRY_FAILED_MS).actions)).toEqual(['keep 3000']);
  });

  it("leaves out the relay agent's own port and ports set to onAutoForward ignore", () => {
    const read = [listening(3000, { agents: true }), listening(3001, { ignored: true }), listening(3002)];
    expect(summary(plan(state(), read, 0).actions)).toEqual(['open 3002']);
    // An ignored port is seen all the same: a forward it already has stays.
    expect(plan(state([detected(3001)]), read, 0).actions).toContainEqual(
      expect.objectContaining({ type: 'keep', port: 3001 }),
    );
  });

  it('does not forward a port the engine publishes itself, and says so once per port', () => {
    const container: WatchedContainer = {
      ...CONTAINER,
      publishedPorts: [
        { containerPort: 5432, protocol: 'tcp', hostIp: '', hostPort: 15432 },
        { containerPort: 5432, protocol: 'tcp', hostIp: '::', hostPort: 15432 },
        { containerPort: 53, protocol: 'udp', hostIp: '', hostPort: 53 },
      ],
    };
    const first = step(state([], container), [listening(5432), listening(53)], 0);
    expect(first.actions).toEqual([
      {
        type: 'fail',
        port: 5432,
        reason:
          'port 5432 is published by the engine itself at 0.0.0.0:15432, :::15432 (appPort, docker run -p or Compose ports): it is reachable there already, so it is not forwarded a second time',
      },
      { type: 'open', listener: listening(53).listener, process: null },
    ]);
    expect(summary(step(first.next, [listening(5432), listening(53)], 250).actions)).toEqual(['keep 53']);
  });

  it("forwards nothing of a container on the host's network, and says why once", () => {
    const container = { ...CONTAINER, hostNetwork: true };
    const first = step(state([], container), [listening(3000), listening(3001)], 0);
    expect(first.actions).toEqual([
      {
        type: 'fail',
        port: 3000,
        reason:
          "container app uses the host's network (network mode host): its servers already listen on the host at their own ports, so none is auto-forwarded",
      },
    ]);
    expect(step(first.next, [listening(3000)], 250).actions).toEqual([]);
    expect(plan(state([], container), [], 0).actions).toEqual([]);
  });

  it('passes on the listening process, and takes no time of its own', () => {
    const read = [listening(3000, { process: 'node server.js' })];
    const actions = plan(state(), read, 0).actions;
    expect(actions).toEqual([{ type: 'open', listener: read[0]!.listener, process: 'node server.js' }]);
    expect(plan(state([detected(3000)]), [], 123).actions).toEqual([
      { type: 'miss', port: 3000, missedReads: 1, missingSince: 123 },
    ]);
  });
});

describe('declaredRefusal', () => {
  it("refuses a declared port of a container on the host's network, and only then", () => {
    expect(declaredRefusal({ name: 'app', hostNetwork: false }, 3000)).toBeNull();
    expect(declaredRefusal({ name: 'app', hostNetwork: true }, 3000)).toBe(
      "container app uses the host's network (network mode host): its server for port 3000 listens on the host at port 3000 itself, so the port is not forwarded (a forward would take the port from it)",
    );
  });
});
