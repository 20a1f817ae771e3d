import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RELAY_PATHS } from '../../../src/forwarding/port-entry.js';
import {
  dialableAddresses,
  relayTargetOf,
  route,
  wantsAgent,
  wantsMux,
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

  it('follows a forced path', () => {
    expect(route(input({ forced: 'exec' })).path).toBe('exec');
    expect(route(input({ forced: 'agent' })).path).toBe('agent');
    expect(route(input({ forced: 'agent', agentUsable: false })).path).toBe('exec');
    expect(route(input({ forced: 'direct' })).path).toBe('direct');
    // Forced direct, a server the host cannot dial still goes by exec, never through the agent.
    expect(route(input({ forced: 'direct', listener: loopback })).path).toBe('exec');
  });
});

describe('route with a mux channel', () => {
  const remote = { directAddresses: [], muxUsable: true };

  it('goes direct, then agent, then mux, then exec', () => {
    expect(route(input({ muxUsable: true })).path).toBe('direct');
    expect(route(input({ listener: loopback, muxUsable: true }))).toEqual({
      path: 'agent',
      address: null,
      fallbacks: ['mux', 'exec'],
    });
    expect(route(input({ ...remote, listener: loopback, agentUsable: false }))).toEqual({
      path: 'mux',
      address: null,
      fallbacks: ['exec'],
    });
    expect(route(input({ ...remote, muxUsable: false, agentUsable: false })).path).toBe('exec');
  });

  it('carries a wildcard server on a remote engine, which the host cannot dial', () => {
    expect(route(input({ ...remote, agentUsable: false })).path).toBe('mux');
  });

  it("puts the mux channel behind a refused '::' dial", () => {
    expect(route(input({ listener: ipv6Wildcard, agentUsable: false, muxUsable: true })).fallbacks).toEqual([
      'mux',
      'exec',
    ]);
  });

  it('follows --relay-path mux: no direct dial, no agent, exec while the channel cannot run', () => {
    expect(route(input({ forced: 'mux', muxUsable: true }))).toEqual({
      path: 'mux',
      address: null,
      fallbacks: ['exec'],
    });
    expect(route(input({ forced: 'mux', muxUsable: false })).path).toBe('exec');
    expect(route(input({ forced: 'exec', muxUsable: true })).path).toBe('exec');
    expect(route(input({ forced: 'direct', listener: loopback, muxUsable: true })).path).toBe('exec');
  });
});

describe('wantsAgent', () => {
  it('runs the agent unless exec or direct is forced', () => {
    expect(wantsAgent(null)).toBe(true);
    expect(wantsAgent('agent')).toBe(true);
    expect(wantsAgent('direct')).toBe(false);
    expect(wantsAgent('exec')).toBe(false);
  });
});

describe('wantsMux', () => {
  it('runs the mux channel unless another path is forced', () => {
    expect(wantsMux(null)).toBe(true);
    expect(wantsMux('mux')).toBe(true);
    expect(wantsMux('agent')).toBe(false);
    expect(wantsMux('direct')).toBe(false);
    expect(wantsMux('exec')).toBe(false);
  });
});

describe('RELAY_PATHS', () => {
  it('lists each path once, in the order --relay-path offers them', () => {
    expect(RELAY_PATHS).toEqual(['direct', 'agent', 'mux', 'exec']);
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

  it('chains agent, mux and exec, each the fallback of the one before', async () => {
    const relayed: { address: string; port: number }[] = [];
    const withMux: RouteEnds = {
      ...ends,
      mux: {
        relay: (_client, address, port) => {
          relayed.push({ address, port });
          return Promise.resolve(null);
        },
      },
    };
    const target = relayTargetOf(route(input({ listener: loopback, muxUsable: true })), withMux);
    if (target.path !== 'agent') throw new Error('expected the agent first');
    const mux = target.fallback;
    if (mux.path !== 'mux') throw new Error('expected the mux channel behind the agent');
    expect(mux.fallback).toMatchObject({ path: 'exec', containerId: 'c0ffee' });
    await mux.relay({} as Socket);
    expect(relayed).toEqual([{ address: '::1', port: 3000 }]);
    const forced = relayTargetOf(route(input({ forced: 'mux', muxUsable: true })), withMux);
    expect(forced.path).toBe('mux');
  });

  it('names the container and port when a route goes inside and no relay program was looked for', () => {
    const none = { ...ends, relayProgram: null };
    expect(() => relayTargetOf(route(input({ listener: loopback })), none)).toThrow(
      'container app has no relay program looked for: port 3000 cannot be relayed into it',
    );
    expect(relayTargetOf(route(input()), none)).toEqual({ path: 'direct', host: V4, port: 3000 });
  });
});
