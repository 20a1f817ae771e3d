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

describe('namespaceBindAddress', () => {
  it('binds to the loopback a loopback server is on, else to any address of its family', () => {
    expect(namespaceBindAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(namespaceBindAddress('::1')).toBe('::1');
    expect(namespaceBindAddress('10.0.0.5')).toBe('0.0.0.0');
    expect(namespaceBindAddress('fd00::5')).toBe('::');
  });
});
