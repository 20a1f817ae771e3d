import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/common/errors.js';
import {
  parseForwardPortSpec,
  parseForwardPorts,
  parsePortsAttributesKey,
  toDeclaredPort,
} from '../../../src/config/port-specs.js';

describe('parseForwardPortSpec', () => {
  it.each([
    ['3000', { service: null, port: 3000 }],
    ['1', { service: null, port: 1 }],
    ['65535', { service: null, port: 65535 }],
    ['db:5432', { service: 'db', port: 5432 }],
    ['my_db.v2:5432', { service: 'my_db.v2', port: 5432 }],
    ['localhost:8080', { service: null, port: 8080 }],
    ['127.0.0.1:8080', { service: null, port: 8080 }],
  ])('reads %s', (spec, expected) => {
    expect(parseForwardPortSpec(spec)).toEqual(expected);
  });

  it.each([
    '0',
    '70000',
    '-1',
    'abc',
    'db:',
    ':5432',
    'db:0',
    'db:70000',
    '3000.5',
    ' 3000',
    '',
    'db:5432:1',
  ])('rejects %j naming the flag', (spec) => {
    let caught: unknown;
    try {
      parseForwardPortSpec(spec);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const error = caught as UsageError;
    expect(error.code).toBe('USAGE');
    expect(error.message).toBe(
      `--forward-port ${JSON.stringify(spec)} is not a port; expected PORT (1-65535) or SERVICE:PORT, with /udp after it for UDP`,
    );
    expect(error.description).toContain('--forward-port 3000');
  });
});

describe('toDeclaredPort', () => {
  it('takes integers 1-65535 and digit strings only', () => {
    expect(toDeclaredPort(8080)).toEqual({ service: null, port: 8080 });
    expect(toDeclaredPort(8080.5)).toBeNull();
    expect(toDeclaredPort(Number.NaN)).toBeNull();
    expect(toDeclaredPort({ port: 1 })).toBeNull();
    expect(toDeclaredPort(['1'])).toBeNull();
  });
});

describe('parsePortsAttributesKey', () => {
  it('reads a port, a range, a service port and a regex', () => {
    expect(parsePortsAttributesKey('3000')).toEqual({ kind: 'port', port: 3000 });
    expect(parsePortsAttributesKey('3000-3000')).toEqual({ kind: 'range', from: 3000, to: 3000 });
    expect(parsePortsAttributesKey('40000-55000')).toEqual({ kind: 'range', from: 40000, to: 55000 });
    expect(parsePortsAttributesKey('db:5432')).toEqual({ kind: 'service', service: 'db', port: 5432 });
    expect(parsePortsAttributesKey('localhost:5432')).toEqual({ kind: 'port', port: 5432 });
    const regex = parsePortsAttributesKey('.+\\/server.js');
    expect(regex).toMatchObject({ kind: 'regex', source: '.+\\/server.js' });
    expect(regex.kind === 'regex' && regex.regex.test('node /srv/server.js')).toBe(true);
  });

  it('treats anything else, including a spaced range, as a regex', () => {
    expect(parsePortsAttributesKey('3000 - 3010').kind).toBe('regex');
    expect(parsePortsAttributesKey('python').kind).toBe('regex');
  });

  it.each(['0', '70000', '5-3', '0-10', '10-70000', '(', '[a-', 'db:70000'])('rejects %j', (key) => {
    expect(() => parsePortsAttributesKey(key)).toThrow(UsageError);
  });
});

describe('UDP ports', () => {
  it('reads PORT/udp and SERVICE:PORT/udp; a bare port or /tcp stays TCP', () => {
    expect(parseForwardPortSpec('5353/udp')).toEqual({ service: null, port: 5353, protocol: 'udp' });
    expect(parseForwardPortSpec('dns:53/udp')).toEqual({ service: 'dns', port: 53, protocol: 'udp' });
    expect(parseForwardPortSpec('5353/tcp')).toEqual({ service: null, port: 5353 });
    expect(toDeclaredPort(5353)).toEqual({ service: null, port: 5353 });
    expect(toDeclaredPort('5353/udp')).toEqual({ service: null, port: 5353, protocol: 'udp' });
    for (const bad of ['5353/sctp', '/udp', '0/udp', '5353/udp/udp', '5353/UDP '])
      expect(toDeclaredPort(bad)).toBeNull();
  });

  it('keeps a TCP and a UDP declaration of one port as two in forwardPorts', () => {
    expect(parseForwardPorts([5353, '5353/udp', '5353/udp', '5353'], 'forwardPorts')).toEqual([
      { service: null, port: 5353 },
      { service: null, port: 5353, protocol: 'udp' },
    ]);
  });

  it('reads portsAttributes keys with /udp as UDP keys; a regex stays a regex', () => {
    expect(parsePortsAttributesKey('5353/udp')).toEqual({ kind: 'port', port: 5353, protocol: 'udp' });
    expect(parsePortsAttributesKey('5000-5010/udp')).toEqual({
      kind: 'range',
      from: 5000,
      to: 5010,
      protocol: 'udp',
    });
    expect(parsePortsAttributesKey('dns:53/udp')).toEqual({
      kind: 'service',
      service: 'dns',
      port: 53,
      protocol: 'udp',
    });
    expect(parsePortsAttributesKey('5353/tcp')).toEqual({ kind: 'port', port: 5353 });
    expect(parsePortsAttributesKey('dnsmasq/udp')).toMatchObject({ kind: 'regex', source: 'dnsmasq/udp' });
  });
});
