import { describe, expect, it } from 'vitest';
import { attributesLookup, serializeAttributes } from '../../../src/forwarding/attributes-lookup.js';
import { parseForwardSettings } from '../../../src/config/forward-settings.js';

describe('attributesLookup', () => {
  it('keeps a /udp key for UDP ports alone through the spec the forwarder reads', () => {
    const config = parseForwardSettings(
      { image: 'debian', portsAttributes: { '5353/udp': { label: 'DNS' }, '5353': { label: 'DNS (TCP)' } } },
      'test',
    );
    const serialized = serializeAttributes(config);
    expect(serialized.portsAttributes.map((entry) => entry.key).sort()).toEqual(['5353', '5353/udp']);
    const lookup = attributesLookup(JSON.parse(JSON.stringify(serialized)) as typeof serialized);
    expect(lookup(5353, null, null, 'udp')).toEqual({ label: 'DNS' });
    expect(lookup(5353, null, null, 'tcp')).toEqual({ label: 'DNS (TCP)' });
    expect(lookup(5353, null, null)).toEqual({ label: 'DNS (TCP)' });
  });
});
