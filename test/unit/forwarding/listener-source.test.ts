import { describe, expect, it } from 'vitest';
import { splitTables, tcpInUse, withoutRuntimeSockets } from '../../../src/forwarding/listener-source.js';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const V4_LISTEN =
  '   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1';
const V6_LISTEN =
  '   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1';

describe('tcpInUse', () => {
  it('reads the per-namespace TCP and TCP6 counters', () => {
    expect(tcpInUse('sockets: used 3\nTCP: inuse 2 orphan 0 tw 0 alloc 9 mem 0\nUDP: inuse 0\n', 'TCP')).toBe(
      '2',
    );
    expect(tcpInUse('TCP6: inuse 5\nUDP6: inuse 0\n', 'TCP6')).toBe('5');
  });

  it('is empty when the line is absent or garbled', () => {
    expect(tcpInUse('', 'TCP')).toBe('');
    expect(tcpInUse('TCP6: inuse 5\n', 'TCP')).toBe('');
    expect(tcpInUse('TCP: inuse x\n', 'TCP')).toBe('');
  });
});

describe('splitTables', () => {
  it('reads the second table of `cat tcp tcp6` as IPv6', () => {
    const listeners = splitTables([HEADER, V4_LISTEN, HEADER, V6_LISTEN, ''].join('\n'));
    expect(listeners).toEqual([
      { family: 4, address: '127.0.0.1', port: 3000, inode: 1001 },
      { family: 6, address: '::1', port: 8080, inode: 1002 },
    ]);
  });

  it('reads a lone IPv4 table when tcp6 is missing', () => {
    expect(splitTables([HEADER, V4_LISTEN].join('\n'))).toHaveLength(1);
  });
});

describe('withoutRuntimeSockets', () => {
  it("drops Docker's embedded DNS listener and keeps the user's", () => {
    const sockets = [
      { family: 4 as const, address: '127.0.0.11', port: 45537, inode: 1 },
      { family: 4 as const, address: '127.0.0.1', port: 3000, inode: 2 },
    ];
    expect(withoutRuntimeSockets(sockets)).toEqual([sockets[1]]);
  });
});
