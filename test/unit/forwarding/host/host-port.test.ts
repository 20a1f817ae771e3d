import { describe, expect, it } from 'vitest';
import {
  describeNoHostPort,
  hostPortCandidates,
  PRIVILEGED_PORT_OFFSET,
  type HostPortCandidate,
} from '../../../../src/forwarding/host/host-port.js';

function first(
  containerPort: number,
  count: number,
  options: { requireLocalPort?: boolean; taken?: number[] } = {},
): HostPortCandidate[] {
  const result: HostPortCandidate[] = [];
  const candidates = hostPortCandidates(containerPort, {
    requireLocalPort: options.requireLocalPort ?? false,
    taken: new Set(options.taken ?? []),
  });
  for (const candidate of candidates) {
    if (result.length === count) break;
    result.push(candidate);
  }
  return result;
}

describe('hostPortCandidates', () => {
  it('offers P itself first, then the ports above it, for P >= 1024', () => {
    expect(first(3000, 3)).toEqual([
      { port: 3000, allocation: 'same' },
      { port: 3001, allocation: 'remapped-in-use' },
      { port: 3002, allocation: 'remapped-in-use' },
    ]);
    expect(first(1024, 1)).toEqual([{ port: 1024, allocation: 'same' }]);
  });

  it('skips taken ports, including P itself', () => {
    expect(first(3000, 2, { taken: [3000, 3001, 3003] })).toEqual([
      { port: 3002, allocation: 'remapped-in-use' },
      { port: 3004, allocation: 'remapped-in-use' },
    ]);
  });

  it('stops at 65535', () => {
    expect(first(65534, 10)).toEqual([
      { port: 65534, allocation: 'same' },
      { port: 65535, allocation: 'remapped-in-use' },
    ]);
    expect(first(65535, 10, { taken: [65535] })).toEqual([]);
  });

  it('maps a privileged P to 8000 + P, then upward', () => {
    expect(PRIVILEGED_PORT_OFFSET).toBe(8000);
    expect(first(80, 2)).toEqual([
      { port: 8080, allocation: 'remapped-privileged' },
      { port: 8081, allocation: 'remapped-privileged' },
    ]);
    expect(first(1023, 1)).toEqual([{ port: 9023, allocation: 'remapped-privileged' }]);
    expect(first(443, 1, { taken: [8443, 8444] })).toEqual([
      { port: 8445, allocation: 'remapped-privileged' },
    ]);
    // P itself is never offered for a privileged port without requireLocalPort.
    expect(
      [...hostPortCandidates(22, { requireLocalPort: false, taken: new Set() })].some((c) => c.port === 22),
    ).toBe(false);
  });

  it('offers only P itself when requireLocalPort is set', () => {
    expect([...hostPortCandidates(3000, { requireLocalPort: true, taken: new Set() })]).toEqual([
      { port: 3000, allocation: 'same' },
    ]);
    expect([...hostPortCandidates(3000, { requireLocalPort: true, taken: new Set([3000]) })]).toEqual([]);
    // A privileged P too: the caller reports it when binding fails.
    expect([...hostPortCandidates(80, { requireLocalPort: true, taken: new Set() })]).toEqual([
      { port: 80, allocation: 'same' },
    ]);
  });

  it('offers nothing for a port that is not a TCP port', () => {
    for (const port of [0, -1, 65536, 3000.5, Number.NaN]) {
      expect([...hostPortCandidates(port, { requireLocalPort: false, taken: new Set() })]).toEqual([]);
    }
  });

  it('is lazy: the full walk is only paid for when consumed', () => {
    const all = [...hostPortCandidates(1024, { requireLocalPort: false, taken: new Set() })];
    expect(all).toHaveLength(65535 - 1024 + 1);
    expect(all.at(-1)).toEqual({ port: 65535, allocation: 'remapped-in-use' });
  });
});

describe('describeNoHostPort', () => {
  it('names the range walked when remapping was allowed', () => {
    expect(describeNoHostPort(3000, { requireLocalPort: false })).toBe(
      'no free host port from 3000 to 65535 for container port 3000',
    );
    expect(describeNoHostPort(80, { requireLocalPort: false })).toBe(
      'no free host port from 8080 to 65535 for container port 80',
    );
  });

  it('blames requireLocalPort and says what holds the port', () => {
    expect(describeNoHostPort(3000, { requireLocalPort: true })).toBe(
      'host port 3000 is in use and portsAttributes.requireLocalPort is set',
    );
    expect(describeNoHostPort(3000, { requireLocalPort: true, heldBy: 'web' })).toBe(
      'host port 3000 is already forwarded from container web and portsAttributes.requireLocalPort is set',
    );
    expect(describeNoHostPort(80, { requireLocalPort: true })).toBe(
      'host port 80 is privileged (binding it needs root) or in use and portsAttributes.requireLocalPort is set',
    );
  });

  it('rejects a port that is not a TCP port', () => {
    expect(describeNoHostPort(70000, { requireLocalPort: false })).toBe(
      'container port 70000 is not a TCP port (1-65535)',
    );
  });
});
