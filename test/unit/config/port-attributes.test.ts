import { describe, expect, it } from 'vitest';
import { parseForwardSettings } from '../../../src/config/forward-settings.js';
import { matchPortAttributes } from '../../../src/config/port-attributes.js';

function configWith(portsAttributes: object, otherPortsAttributes?: object) {
  return parseForwardSettings({ image: 'alpine', portsAttributes, otherPortsAttributes }, 'test');
}

describe('matchPortAttributes', () => {
  it('uses an exact port key', () => {
    const config = configWith({ '3000': { label: 'Web' } });
    expect(matchPortAttributes(config, 3000, null)).toEqual({
      attributes: { label: 'Web' },
      matchedBy: 'port',
    });
  });

  it('lets an exact port beat a range beat a regex, option by option', () => {
    const config = configWith({
      node: { label: 'Node', protocol: 'https', elevateIfNeeded: true },
      '3000-3999': { label: 'Range', onAutoForward: 'silent', protocol: 'http' },
      '3000': { label: 'Exact' },
    });
    expect(matchPortAttributes(config, 3000, 'node server.js')).toEqual({
      attributes: { label: 'Exact', protocol: 'http', onAutoForward: 'silent', elevateIfNeeded: true },
      matchedBy: 'port',
    });
    expect(matchPortAttributes(config, 3001, 'node server.js')).toEqual({
      attributes: { label: 'Range', protocol: 'http', onAutoForward: 'silent', elevateIfNeeded: true },
      matchedBy: 'range',
    });
    expect(matchPortAttributes(config, 4000, 'node server.js')).toEqual({
      attributes: { label: 'Node', protocol: 'https', elevateIfNeeded: true },
      matchedBy: 'regex',
    });
  });

  it('tests regex keys only against a known command line', () => {
    const config = configWith(
      { '.+/server\\.js': { onAutoForward: 'openBrowser' } },
      { onAutoForward: 'ignore' },
    );
    expect(matchPortAttributes(config, 8080, '/usr/bin/node /app/server.js').attributes).toEqual({
      onAutoForward: 'openBrowser',
    });
    expect(matchPortAttributes(config, 8080, null)).toEqual({
      attributes: { onAutoForward: 'ignore' },
      matchedBy: 'other',
    });
    expect(matchPortAttributes(config, 8080, 'python -m http.server').matchedBy).toBe('other');
  });

  it('takes ranges by lowest start first, as VS Code sorts them', () => {
    const config = configWith({ '3500-4000': { label: 'Inner' }, '3000-5000': { label: 'Outer' } });
    expect(matchPortAttributes(config, 3600, null).attributes).toEqual({ label: 'Outer' });
  });

  it('includes both ends of a range', () => {
    const config = configWith({ '5000-5002': { requireLocalPort: true } });
    expect(matchPortAttributes(config, 5000, null).matchedBy).toBe('range');
    expect(matchPortAttributes(config, 5002, null).matchedBy).toBe('range');
    expect(matchPortAttributes(config, 5003, null).matchedBy).toBe('none');
  });

  it('uses otherPortsAttributes only when no key matched, never to fill gaps', () => {
    const config = configWith({ '3000': { label: 'Web' } }, { onAutoForward: 'silent', label: 'Other' });
    expect(matchPortAttributes(config, 3000, null)).toEqual({
      attributes: { label: 'Web' },
      matchedBy: 'port',
    });
    expect(matchPortAttributes(config, 3001, null)).toEqual({
      attributes: { onAutoForward: 'silent', label: 'Other' },
      matchedBy: 'other',
    });
  });

  it('falls back to otherPortsAttributes when the matching keys set nothing, as VS Code does', () => {
    const config = configWith({ '3000': {} }, { onAutoForward: 'ignore' });
    expect(matchPortAttributes(config, 3000, null).matchedBy).toBe('other');
  });

  it('returns no attributes when nothing matches and there is no otherPortsAttributes', () => {
    expect(matchPortAttributes(configWith({}), 22, 'sshd')).toEqual({ attributes: {}, matchedBy: 'none' });
  });

  it('matches "service:port" keys only for that service, and number keys only for the dev container', () => {
    const config = configWith({
      'db:5432': { label: 'Postgres' },
      '5432': { label: 'Local' },
      '5000-6000': {},
    });
    expect(matchPortAttributes(config, 5432, null, 'db')).toEqual({
      attributes: { label: 'Postgres' },
      matchedBy: 'service',
    });
    expect(matchPortAttributes(config, 5432, null)).toEqual({
      attributes: { label: 'Local' },
      matchedBy: 'port',
    });
    expect(matchPortAttributes(config, 5432, null, 'cache').matchedBy).toBe('none');
  });

  it('does not share attribute objects with the config', () => {
    const config = configWith({}, { label: 'Other' });
    const matched = matchPortAttributes(config, 1234, null);
    matched.attributes.label = 'changed';
    expect(config.otherPortsAttributes).toEqual({ label: 'Other' });
  });
});

describe('matchPortAttributes by protocol', () => {
  it('applies a /udp key to UDP only and a bare key to TCP only; a regex and otherPortsAttributes to both', () => {
    const config = configWith(
      {
        '5353/udp': { label: 'DNS' },
        '5353': { label: 'DNS over TCP' },
        dnsmasq: { onAutoForward: 'silent' },
      },
      { label: 'Other' },
    );
    expect(matchPortAttributes(config, 5353, 'dnsmasq', null, 'udp').attributes).toEqual({
      label: 'DNS',
      onAutoForward: 'silent',
    });
    expect(matchPortAttributes(config, 5353, 'dnsmasq', null, 'tcp').attributes).toEqual({
      label: 'DNS over TCP',
      onAutoForward: 'silent',
    });
    expect(matchPortAttributes(config, 5353, null).attributes).toEqual({ label: 'DNS over TCP' });
    const udpOnly = configWith({ '5353/udp': { label: 'DNS' } }, { label: 'Other' });
    expect(matchPortAttributes(udpOnly, 5353, null, null, 'tcp')).toEqual({
      attributes: { label: 'Other' },
      matchedBy: 'other',
    });
  });
});
