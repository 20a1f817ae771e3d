import { describe, expect, it } from 'vitest';
import { datagramRoute } from '../../../src/forwarding/route.js';
import { namespaceBindAddress } from '../../../src/forwarding/relay/udp-relay.js';

const V4 = '172.17.0.2';
const V6 = 'fd00::2';

function input(overrides: Partial<Parameters<typeof datagramRoute>[0]> = {}) {
  return {
    forced: null,
    listener: { scope: 'wildcard', dialAddress: '127.0.0.1' } as const,
    seen: true,
    directAddresses: [V4],
    netnsUsable: false,
    port: 5353,
    containerName: 'app',
    ...overrides,
  };
}

describe('datagramRoute', () => {
  it('sends to the container address for a wildcard-bound server, IPv6 where a :: server has it', () => {
    expect(datagramRoute(input())).toEqual({ path: 'direct', address: V4 });
    const v6 = { scope: 'wildcard', dialAddress: '::1' } as const;
    expect(datagramRoute(input({ listener: v6, directAddresses: [V4, V6] }))).toEqual({
      path: 'direct',
      address: V6,
    });
    expect(datagramRoute(input({ forced: 'direct' }))).toEqual({ path: 'direct', address: V4 });
  });

  it('sends a declared port not read yet to the container address', () => {
    const loopback = { scope: 'loopback', dialAddress: '127.0.0.1' } as const;
    expect(datagramRoute(input({ listener: loopback, seen: false }))).toEqual({
      path: 'direct',
      address: V4,
    });
  });

  it("sends to a loopback-bound server's own address through the namespace helper where it may run", () => {
    for (const dialAddress of ['127.0.0.1', '::1']) {
      const loopback = { scope: 'loopback', dialAddress } as const;
      expect(datagramRoute(input({ listener: loopback, netnsUsable: true }))).toEqual({
        path: 'netns',
        address: dialAddress,
      });
      expect(datagramRoute(input({ listener: loopback, netnsUsable: true, forced: 'netns' }))).toEqual({
        path: 'netns',
        address: dialAddress,
      });
      // A forced exec, agent or direct path forbids the helper: the failure says why.
      for (const forced of ['exec', 'agent', 'direct'] as const) {
        expect(datagramRoute(input({ listener: loopback, netnsUsable: true, forced }))).toMatchObject({
          path: null,
        });
      }
    }
    // A wildcard-bound server still goes directly.
    expect(datagramRoute(input({ netnsUsable: true }))).toEqual({ path: 'direct', address: V4 });
  });

  it('says why a loopback-bound server, a remote engine or a forced inside path gets no path', () => {
    const loopback = { scope: 'loopback', dialAddress: '127.0.0.1' } as const;
    expect(datagramRoute(input({ listener: loopback }))).toMatchObject({
      path: null,
      reason: expect.stringMatching(
        /UDP port 5353 of container app .*loopback \(127\.0\.0\.1\) only.*namespace helper is not available.*bind the server to 0\.0\.0\.0/,
      ),
    });
    expect(datagramRoute(input({ directAddresses: [] }))).toMatchObject({
      path: null,
      reason: expect.stringMatching(/cannot send to the container's addresses/),
    });
    for (const forced of ['agent', 'exec'] as const) {
      expect(datagramRoute(input({ forced }))).toMatchObject({
        path: null,
        reason: expect.stringContaining(`--relay-path ${forced}`),
      });
    }
    const elsewhere = { scope: 'specific', dialAddress: '10.9.9.9' } as const;
    expect(datagramRoute(input({ listener: elsewhere }))).toMatchObject({ path: null });
  });
});

describe('datagramRoute over the mux channel', () => {
  const loopback = { scope: 'loopback', dialAddress: '127.0.0.1' } as const;

  it('is taken after direct and the namespace helper: a remote engine, or a loopback server without the helper', () => {
    // A remote engine (no address the host can send to): the server's own address inside.
    expect(datagramRoute(input({ directAddresses: [], muxUsable: true }))).toEqual({
      path: 'mux',
      address: '127.0.0.1',
    });
    for (const dialAddress of ['::1', '172.17.0.2']) {
      const listener = { scope: 'specific', dialAddress } as const;
      expect(datagramRoute(input({ listener, directAddresses: [], muxUsable: true }))).toEqual({
        path: 'mux',
        address: dialAddress,
      });
    }
    expect(datagramRoute(input({ listener: loopback, muxUsable: true }))).toEqual({
      path: 'mux',
      address: '127.0.0.1',
    });
    // A declared port not read yet, on a remote engine: the container's loopback.
    expect(
      datagramRoute(input({ listener: loopback, seen: false, directAddresses: [], muxUsable: true })),
    ).toEqual({ path: 'mux', address: '127.0.0.1' });
    // Direct and the helper come first.
    expect(datagramRoute(input({ muxUsable: true }))).toEqual({ path: 'direct', address: V4 });
    expect(datagramRoute(input({ listener: loopback, netnsUsable: true, muxUsable: true }))).toEqual({
      path: 'netns',
      address: '127.0.0.1',
    });
  });

  it('is forced by --relay-path mux, and ruled out by the other forced paths', () => {
    expect(datagramRoute(input({ forced: 'mux', muxUsable: true }))).toEqual({
      path: 'mux',
      address: '127.0.0.1',
    });
    expect(
      datagramRoute(input({ forced: 'mux', listener: loopback, netnsUsable: true, muxUsable: true })),
    ).toEqual({ path: 'mux', address: '127.0.0.1' });
    expect(datagramRoute(input({ forced: 'mux' }))).toMatchObject({
      path: null,
      reason: expect.stringMatching(
        /--relay-path mux is forced and no mux channel can run in it \(it needs python3 or perl\)/,
      ),
    });
    for (const forced of ['direct', 'netns'] as const) {
      expect(
        datagramRoute(input({ forced, listener: loopback, directAddresses: [], muxUsable: true })),
      ).toMatchObject({
        path: null,
        reason: expect.stringContaining(`--relay-path ${forced} rules out its mux channel`),
      });
    }
    for (const forced of ['agent', 'exec'] as const) {
      expect(datagramRoute(input({ forced, muxUsable: true }))).toMatchObject({
        path: null,
        reason: expect.stringContaining('use --relay-path auto, direct, netns or mux'),
      });
    }
  });

  it('says a remote engine needs python3 or perl in the container when no channel can run', () => {
    expect(datagramRoute(input({ directAddresses: [] }))).toMatchObject({
      path: null,
      reason: expect.stringMatching(
        /remote or VM-backed engine\), and no mux channel can run in it \(it needs python3 or perl\)/,
      ),
    });
  });
});

describe('namespaceBindAddress', () => {
  it('binds to the loopback a loopback server is on, else to any address of its family', () => {
    expect(namespaceBindAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(namespaceBindAddress('::1')).toBe('::1');
    expect(namespaceBindAddress('10.0.0.5')).toBe('0.0.0.0');
    expect(namespaceBindAddress('fd00::5')).toBe('::');
  });
});
