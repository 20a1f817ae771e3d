import { describe, expect, it } from 'vitest';
import { parsePublishedPorts } from '../../../src/runtime/published-ports.js';

describe('parsePublishedPorts', () => {
  it('reads what the engine bound, random host ports included, and leaves exposed-only ports out', () => {
    const bound = {
      '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '3000' }],
      '3001/tcp': [{ HostIp: '127.0.0.1', HostPort: '32768' }],
      '3002/udp': [
        { HostIp: '0.0.0.0', HostPort: '39002' },
        { HostIp: '::', HostPort: '39002' },
      ],
      '8080/tcp': null,
      '9000/sctp': [{ HostIp: '', HostPort: '9000' }],
    };
    const requested = { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '3000' }] };
    expect(parsePublishedPorts(bound, requested)).toEqual([
      { containerPort: 3000, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 3000 },
      { containerPort: 3001, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 32768 },
      { containerPort: 3002, protocol: 'udp', hostIp: '0.0.0.0', hostPort: 39002 },
      { containerPort: 3002, protocol: 'udp', hostIp: '::', hostPort: 39002 },
    ]);
  });

  it('falls back to the requested bindings while nothing is bound (a container not running)', () => {
    const requested = {
      '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '3000' }],
      '3001/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    };
    expect(parsePublishedPorts({}, requested)).toEqual([
      { containerPort: 3000, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 3000 },
      { containerPort: 3001, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: null },
    ]);
  });

  it('finds nothing where nothing is published', () => {
    expect(parsePublishedPorts(null, null)).toEqual([]);
    expect(parsePublishedPorts({ '80/tcp': null }, {})).toEqual([]);
  });
});
