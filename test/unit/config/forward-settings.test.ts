import { describe, expect, it } from 'vitest';
import { parseForwardSettings } from '../../../src/config/forward-settings.js';

describe('parseForwardSettings', () => {
  it('reads forwardPorts and port attributes from a merged configuration', () => {
    const settings = parseForwardSettings(
      {
        image: 'x',
        forwardPorts: [3000, '8080', 'db:5432', 3000],
        portsAttributes: { '3000': { label: 'web' }, '9000-9010': { onAutoForward: 'ignore' } },
        otherPortsAttributes: { onAutoForward: 'silent' },
      },
      'merged',
    );
    expect(settings.forwardPorts).toEqual([
      { service: null, port: 3000 },
      { service: null, port: 8080 },
      { service: 'db', port: 5432 },
    ]);
    expect(settings.portsAttributes).toEqual([
      { key: { kind: 'port', port: 3000 }, attributes: { label: 'web' } },
      { key: { kind: 'range', from: 9000, to: 9010 }, attributes: { onAutoForward: 'ignore' } },
    ]);
    expect(settings.otherPortsAttributes).toEqual({ onAutoForward: 'silent' });
  });

  it('gives nothing for no configuration, and names the property and the source of a malformed one', () => {
    expect(parseForwardSettings(undefined, 'merged').forwardPorts).toEqual([]);
    expect(() => parseForwardSettings({ forwardPorts: ['web'] }, 'the merged configuration')).toThrow(
      /forwardPorts\[0\]/,
    );
  });
});
