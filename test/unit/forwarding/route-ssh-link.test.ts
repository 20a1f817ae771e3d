import { describe, expect, it } from 'vitest';
import { ForwardConnections } from '../../../src/forwarding/forward-connections.js';
import { newForward, type TargetContainer } from '../../../src/forwarding/forward-state.js';
import {
  HOST_DIALER,
  dialerOf,
  type ContainerDialer,
} from '../../../src/forwarding/relay/container-dialer.js';
import { relayTargetOf, route, type RouteInput } from '../../../src/forwarding/route.js';
import type { Docker } from '../../../src/runtime/docker.js';

const V4 = '172.17.0.2';
const V6 = 'fd00::2';
const wildcard = { scope: 'wildcard', dialAddress: '127.0.0.1' } as const;
const ipv6Wildcard = { scope: 'wildcard', dialAddress: '::1' } as const;
const loopback = { scope: 'loopback', dialAddress: '127.0.0.1' } as const;

/** A remote engine's container dialled through the SSH link: agent and mux channel usable. */
function overLink(overrides: Partial<RouteInput> = {}): RouteInput {
  return {
    forced: null,
    listener: wildcard,
    directAddresses: [V4],
    agentUsable: true,
    netnsUsable: false,
    muxUsable: true,
    ipv4Refused: false,
    viaLink: true,
    ...overrides,
  };
}

function linkDialer(usable: boolean): ContainerDialer {
  return { via: 'ssh-link', usable, dial: () => Promise.reject(new Error('not in a unit test')) };
}

describe('route through an SSH link that dials container addresses', () => {
  it('dials a wildcard-bound server at the container address, with nothing behind it', () => {
    expect(route(overLink())).toEqual({ path: 'direct', address: V4, fallbacks: [] });
  });

  it('takes a loopback-bound server through the agent, then the mux channel, then exec', () => {
    expect(route(overLink({ listener: loopback }))).toEqual({
      path: 'agent',
      address: null,
      fallbacks: ['mux', 'exec'],
    });
  });

  it("never dials '::' at the IPv4 address (a refusal there reads as a close), only at an IPv6 one", () => {
    expect(route(overLink({ listener: ipv6Wildcard }))).toEqual({
      path: 'agent',
      address: null,
      fallbacks: ['mux', 'exec'],
    });
    expect(route(overLink({ listener: ipv6Wildcard, directAddresses: [V4, V6] }))).toEqual({
      path: 'direct',
      address: V6,
      fallbacks: [],
    });
  });

  it('still honours --relay-path', () => {
    expect(route(overLink({ forced: 'mux' })).path).toBe('mux');
    expect(route(overLink({ forced: 'direct', listener: loopback })).path).toBe('exec');
  });

  it('hands the dialer to the direct target', () => {
    const dialer = linkDialer(true);
    const target = relayTargetOf(route(overLink()), {
      containerId: 'c0ffee',
      containerName: 'app',
      port: 3000,
      dialAddress: '127.0.0.1',
      relayProgram: { kind: 'socat' },
      agent: null,
      netns: null,
      onRefused: () => undefined,
      dialer,
    });
    expect(target).toMatchObject({ path: 'direct', host: V4, port: 3000 });
    expect(target.path === 'direct' ? target.dialer : null).toBe(dialer);
  });
});

describe('dialerOf', () => {
  it('dials from the host where the container is proven local, else through the link, else not at all', () => {
    const link = linkDialer(true);
    expect(dialerOf(true, link)).toBe(HOST_DIALER);
    expect(dialerOf(true, null)).toBe(HOST_DIALER);
    expect(dialerOf(false, link)).toBe(link);
    expect(dialerOf(false, null)).toBeNull();
  });
});

describe("a forward's route with the link's dialer", () => {
  const target = (dialer: ContainerDialer): TargetContainer => ({
    id: 'c0ffee',
    name: 'app',
    service: null,
    directAddresses: [V4],
    dialer,
    relayProgram: { kind: 'socat' },
    agent: { usable: true } as TargetContainer['agent'],
    mux: { usable: true } as TargetContainer['mux'],
    netns: null,
    hostNetwork: false,
    publishedPorts: [],
  });
  const connections = new ForwardConnections({
    docker: {} as Docker,
    relayPath: null,
    log: () => undefined,
    onPathLearned: () => undefined,
  });
  const listener = (scope: 'wildcard' | 'loopback', protocol?: 'udp') => ({
    port: 3000,
    scope,
    dialAddress: '127.0.0.1',
    sockets: [],
    ...(protocol ? { protocol } : {}),
  });

  it('goes direct and through the agent while the link dials, and to the mux channel when it cannot', () => {
    const dials = target(linkDialer(true));
    expect(connections.routeOf(newForward(dials, 3000, 'detected', listener('wildcard'))).path).toBe(
      'direct',
    );
    expect(connections.routeOf(newForward(dials, 3000, 'detected', listener('loopback'))).path).toBe('agent');
    const refused = target(linkDialer(false));
    expect(connections.routeOf(newForward(refused, 3000, 'detected', listener('wildcard'))).path).toBe('mux');
    expect(connections.routeOf(newForward(refused, 3000, 'detected', listener('loopback'))).path).toBe('mux');
  });

  it('sends no datagrams through the link, which carries TCP only: they take the mux channel', () => {
    const forward = newForward(target(linkDialer(true)), 3000, 'detected', listener('wildcard', 'udp'));
    expect(connections.datagramRouteOf(forward).path).toBe('mux');
  });
});
