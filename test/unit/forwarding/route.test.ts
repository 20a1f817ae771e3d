import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RELAY_PATHS } from '../../../src/forwarding/port-entry.js';
import {
  dialableAddresses,
  relayTargetOf,
  route,
  wantsAgent,
  wantsNetns,
  type RouteEnds,
  type RouteInput,
} from '../../../src/forwarding/route.js';

const V4 = '172.17.0.2';
const V6 = 'fd00::2';
const wildcard = { scope: 'wildcard', dialAddress: '127.0.0.1' } as const;
const ipv6Wildcard = { scope: 'wildcard', dialAddress: '::1' } as const;
const specific = { scope: 'specific', dialAddress: V4 } as const;
const loopback = { scope: 'loopback', dialAddress: '127.0.0.1' } as const;

/** A local engine's container, agent usable, nothing learned yet. */
function input(overrides: Partial<RouteInput> = {}): RouteInput {
  return {
    forced: null,
    listener: wildcard,
    directAddresses: [V4],
    agentUsable: true,
    netnsUsable: false,
    ipv4Refused: false,
    ...overrides,
  };
}

describe('route', () => {
  it('dials a wildcard or specific-address server directly, with nothing to fall back to', () => {
    expect(route(input())).toEqual({ path: 'direct', address: V4, fallbacks: [] });
    expect(route(input({ listener: specific }))).toEqual({ path: 'direct', address: V4, fallbacks: [] });
  });

  it('takes a loopback-bound server through the agent, with exec behind it, or exec alone', () => {
    expect(route(input({ listener: loopback }))).toEqual({
      path: 'agent',
      address: null,
      fallbacks: ['exec'],
    });
    expect(route(input({ listener: loopback, agentUsable: false }))).toEqual({
      path: 'exec',
      address: null,
      fallbacks: [],
    });
  });

  it('goes inside for a server bound to another address than the container has', () => {
    const elsewhere = { scope: 'specific', dialAddress: '10.9.9.9' } as const;
    expect(route(input({ listener: elsewhere })).path).toBe('agent');
  });

  it('goes inside on a remote engine, whose container addresses the host cannot dial', () => {
    const remote = dialableAddresses([V4], false);
    expect(remote).toEqual([]);
    expect(route(input({ directAddresses: remote })).path).toBe('agent');
    expect(route(input({ directAddresses: remote, agentUsable: false })).path).toBe('exec');
    expect(route(input({ directAddresses: dialableAddresses([V4], true) })).path).toBe('direct');
  });

  it("dials '::' at the IPv4 address with the inside paths behind it, until IPv6-only was learned", () => {
    expect(route(input({ listener: ipv6Wildcard }))).toEqual({
      path: 'direct',
      address: V4,
      fallbacks: ['agent', 'exec'],
    });
    expect(route(input({ listener: ipv6Wildcard, agentUsable: false })).fallbacks).toEqual(['exec']);
    expect(route(input({ listener: ipv6Wildcard, ipv4Refused: true }))).toEqual({
      path: 'agent',
      address: null,
      fallbacks: ['exec'],
    });
    // At the container's IPv6 address both kinds of '::' socket accept: nothing to fall back to.
    expect(route(input({ listener: ipv6Wildcard, directAddresses: [V4, V6], ipv4Refused: true }))).toEqual({
      path: 'direct',
      address: V6,
      fallbacks: [],
    });
  });

  it('takes a loopback-bound server through the namespace helper first, with agent and exec behind it', () => {
    expect(route(input({ listener: loopback, netnsUsable: true }))).toEqual({
      path: 'netns',
      address: null,
      fallbacks: ['agent', 'exec'],
    });
    expect(route(input({ listener: loopback, netnsUsable: true, agentUsable: false }))).toEqual({
      path: 'netns',
      address: null,
      fallbacks: ['exec'],
    });
    // A server the host can dial is still dialled directly.
    expect(route(input({ netnsUsable: true }))).toEqual({ path: 'direct', address: V4, fallbacks: [] });
    expect(route(input({ listener: ipv6Wildcard, netnsUsable: true })).fallbacks).toEqual([
      'netns',
      'agent',
      'exec',
    ]);
    expect(route(input({ listener: ipv6Wildcard, netnsUsable: true, ipv4Refused: true })).path).toBe('netns');
    // On a remote engine there is no namespace to enter (netnsUsable false): the agent or exec.
    expect(route(input({ listener: loopback, directAddresses: [] })).path).toBe('agent');
  });

  it('forces the namespace helper, with exec behind it, and never dials directly then', () => {
    expect(route(input({ forced: 'netns', netnsUsable: true }))).toEqual({
      path: 'netns',
      address: null,
      fallbacks: ['exec'],
    });
    // Backing off after a failed start: exec carries the connections meanwhile.
    expect(route(input({ forced: 'netns', netnsUsable: false, listener: loopback })).path).toBe('exec');
    expect(route(input({ forced: 'agent', netnsUsable: true, listener: loopback })).path).toBe('agent');
    expect(route(input({ forced: 'exec', netnsUsable: true, listener: loopback })).path).toBe('exec');
    expect(route(input({ forced: 'direct', netnsUsable: true, listener: loopback })).path).toBe('exec');
  });

  it('follows a forced path', () => {
    expect(route(input({ forced: 'exec' })).path).toBe('exec');
    expect(route(input({ forced: 'agent' })).path).toBe('agent');
    expect(route(input({ forced: 'agent', agentUsable: false })).path).toBe('exec');
    expect(route(input({ forced: 'direct' })).path).toBe('direct');
    // Forced direct, a server the host cannot dial still goes by exec, never through the agent.
    expect(route(input({ forced: 'direct', listener: loopback })).path).toBe('exec');
  });
});

describe('wantsAgent', () => {
  it('runs the agent unless exec or direct is forced', () => {
    expect(wantsAgent(null)).toBe(true);
    expect(wantsAgent('agent')).toBe(true);
    expect(wantsAgent('direct')).toBe(false);
    expect(wantsAgent('exec')).toBe(false);
    expect(wantsAgent('netns')).toBe(false);
  });
});

describe('wantsNetns', () => {
  it('offers the namespace helper unless another path is forced', () => {
    expect(wantsNetns(null)).toBe(true);
    expect(wantsNetns('netns')).toBe(true);
    for (const forced of ['direct', 'agent', 'exec'] as const) expect(wantsNetns(forced)).toBe(false);
  });
});

describe('RELAY_PATHS', () => {
  it('lists each path once, in the order --relay-path offers them', () => {
    expect(RELAY_PATHS).toEqual(['direct', 'netns', 'agent', 'exec']);
  });
});

describe('relayTargetOf', () => {
  const connected: { address: string; port: number }[] = [];
  const ends: RouteEnds = {
    containerId: 'c0ffee',
    containerName: 'app',
    port: 3000,
    dialAddress: '::1',
    relayProgram: { kind: 'socat' },
    agent: {
      connect: (address, port) => {
        connected.push({ address, port });
        return Promise.resolve(null);
      },
    },
    netns: null,
    onRefused: () => undefined,
  };

  it('carries the route: the direct address, the agent to the server inside, exec behind it', async () => {
    const target = relayTargetOf(route(input({ listener: ipv6Wildcard })), ends);
    expect(target).toMatchObject({ path: 'direct', host: V4, port: 3000 });
    if (target.path !== 'direct' || !target.refused)
      throw new Error('expected a direct target with a fallback');
    const inside = target.refused.fallback;
    expect(inside.path).toBe('agent');
    if (inside.path !== 'agent') throw new Error('expected the agent inside');
    expect(inside.fallback).toMatchObject({ path: 'exec', containerId: 'c0ffee' });
    await inside.connect({} as Socket);
    expect(connected).toEqual([{ address: '::1', port: 3000 }]);
  });

  it('puts the namespace helper first inside, with the agent and exec behind it', async () => {
    const dialled: string[] = [];
    const withNetns: RouteEnds = {
      ...ends,
      netns: {
        connect: (address, port) => {
          dialled.push(`[${address}]:${port}`);
          return Promise.resolve(null);
        },
      },
    };
    const target = relayTargetOf(route(input({ listener: loopback, netnsUsable: true })), withNetns);
    if (target.path !== 'netns') throw new Error('expected the namespace helper');
    expect(target.fallback).toMatchObject({ path: 'agent', fallback: { path: 'exec' } });
    await target.connect({} as Socket);
    expect(dialled).toEqual(['[::1]:3000']);
  });

  it('leaves exec out behind the namespace helper in a container with no relay program', () => {
    const bare: RouteEnds = {
      ...ends,
      relayProgram: null,
      agent: null,
      netns: { connect: () => Promise.resolve(null) },
    };
    const target = relayTargetOf(
      route(input({ listener: loopback, netnsUsable: true, agentUsable: false })),
      bare,
    );
    expect(target).toMatchObject({ path: 'netns', fallback: null });
  });

  it('names the container and port when a route goes inside and no relay program was looked for', () => {
    const none = { ...ends, relayProgram: null };
    expect(() => relayTargetOf(route(input({ listener: loopback })), none)).toThrow(
      'container app has no relay program looked for: port 3000 cannot be relayed into it',
    );
    expect(relayTargetOf(route(input()), none)).toEqual({ path: 'direct', host: V4, port: 3000 });
  });
});
