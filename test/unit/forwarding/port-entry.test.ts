import { describe, expect, it } from 'vitest';
import { publicEntry, type PortEntry } from '../../../src/forwarding/port-entry.js';

const ENTRY: PortEntry = {
  containerId: 'a'.repeat(64),
  containerName: 'web',
  service: null,
  containerPort: 3000,
  hostAddress: '127.0.0.1',
  hostPort: 3001,
  protocol: 'tcp',
  origin: 'detected',
  allocation: 'remapped-in-use',
  label: 'App',
  process: 'node server.js',
  forwarderPid: 4242,
  forwarderStartTime: 987_654,
  since: '2026-11-23T16:00:00.000Z',
  path: 'agent',
  urlScheme: 'https',
};

describe('publicEntry', () => {
  it('keeps every field `ports --json` promises and leaves the forwarder start time out', () => {
    const shown = publicEntry(ENTRY);
    const { forwarderStartTime: _kept, ...expected } = ENTRY;
    expect(shown).toStrictEqual({ ...expected, direction: 'forward' });
    expect(JSON.stringify(shown)).not.toContain('forwarderStartTime');
  });

  it('leaves out what the registry record carries beyond the public fields', () => {
    const record = { ...ENTRY, secret: 'kept inside' } as PortEntry;
    expect(Object.keys(publicEntry(record))).not.toContain('secret');
  });

  it('has no urlScheme key when the entry has none', () => {
    const { urlScheme: _none, ...plain } = ENTRY;
    expect(Object.keys(publicEntry(plain))).not.toContain('urlScheme');
    expect(publicEntry({ ...ENTRY, urlScheme: null }).urlScheme).toBeNull();
  });
});
