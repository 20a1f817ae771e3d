import { describe, expect, it } from 'vitest';
import { datagramRoute } from '../../../src/forwarding/route.js';

const V4 = '172.17.0.2';
const V6 = 'fd00::2';

function input(overrides: Partial<Parameters<typeof datagramRoute>[0]> = {}) {
  return {
    forced: null,
    listener: { scope: 'wildcard', dialAddress: '127.0.0.1' } as const,
    seen: true,
    directAddresses: [V4],
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

  it('says why a loopback-bound server, a remote engine or a forced inside path gets no path', () => {
    const loopback = { scope: 'loopback', dialAddress: '127.0.0.1' } as const;
    expect(datagramRoute(input({ listener: loopback }))).toMatchObject({
      path: null,
      reason: expect.stringMatching(
        /UDP port 5353 of container app .*loopback \(127\.0\.0\.1\) only.*bind the server to 0\.0\.0\.0/,
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
