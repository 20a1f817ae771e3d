import { describe, expect, it } from 'vitest';
import {
  groupListenersByPort,
  parseProcNetTcp,
  type SocketListener,
} from '../../../../src/forwarding/detect/proc-net-tcp.js';

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

function tcpLine(slot: number, local: string, remote: string, state: string, inode: number): string {
  return `  ${slot}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 00000000b6be4c64 100 0 0 10 0                      `;
}

const ZERO6 = '00000000000000000000000000000000';

// Copied in shape from a real Linux 6.x host: a wildcard, 127.0.0.2, 127.0.0.1 and an established connection.
const REAL_TCP = [
  TCP_HEADER,
  tcpLine(0, '00000000:07E8', '00000000:0000', '0A', 1604),
  tcpLine(1, '0200007F:A447', '00000000:0000', '0A', 8261),
  tcpLine(2, '0100007F:8C4B', '00000000:0000', '0A', 8257),
  tcpLine(3, '0100007F:8C4B', '0100007F:D2F0', '01', 9001),
  '',
].join('\n');

// ::1, ::ffff:127.0.0.1 and :: from a real host, plus fe80::1 and a TIME_WAIT line.
const REAL_TCP6 = [
  TCP6_HEADER,
  tcpLine(0, '00000000000000000000000001000000:90DF', `${ZERO6}:0000`, '0A', 8258),
  tcpLine(1, '0000000000000000FFFF00000100007F:A9CB', `${ZERO6}:0000`, '0A', 8262),
  tcpLine(2, `${ZERO6}:A1CF`, `${ZERO6}:0000`, '0A', 8259),
  tcpLine(3, '000080FE000000000000000001000000:1F90', `${ZERO6}:0000`, '0A', 8300),
  tcpLine(4, '00000000000000000000000001000000:1F91', '00000000000000000000000001000000:C000', '06', 8301),
  '',
].join('\n');

describe('parseProcNetTcp', () => {
  it('reads IPv4 LISTEN sockets with little-endian addresses and ignores other states', () => {
    expect(parseProcNetTcp(REAL_TCP, 4)).toEqual([
      { family: 4, address: '0.0.0.0', port: 2024, inode: 1604 },
      { family: 4, address: '127.0.0.2', port: 42055, inode: 8261 },
      { family: 4, address: '127.0.0.1', port: 35915, inode: 8257 },
    ]);
  });

  it('reads IPv6 sockets in canonical text and reports IPv4-mapped ones as IPv4', () => {
    expect(parseProcNetTcp(REAL_TCP6, 6)).toEqual([
      { family: 6, address: '::1', port: 37087, inode: 8258 },
      { family: 4, address: '127.0.0.1', port: 43467, inode: 8262 },
      { family: 6, address: '::', port: 41423, inode: 8259 },
      { family: 6, address: 'fe80::1', port: 8080, inode: 8300 },
    ]);
  });

  it('formats IPv6 per RFC 5952: lower case, longest zero run compressed, first on a tie', () => {
    // 2001:db8:0:0:1:0:0:1 → the first of two equal runs is compressed.
    const words = ['B80D0120', '00000000', '00000100', '01000000'];
    const line = tcpLine(0, `${words.join('')}:0050`, `${ZERO6}:0000`, '0A', 1);
    expect(parseProcNetTcp(line, 6)[0]?.address).toBe('2001:db8::1:0:0:1');
    // No zero group at all: nothing is compressed.
    const full = ['01000100', '01000100', '01000100', '01000100'].join('');
    expect(parseProcNetTcp(tcpLine(0, `${full}:0050`, `${ZERO6}:0000`, '0A', 1), 6)[0]?.address).toBe(
      '1:1:1:1:1:1:1:1',
    );
    // A single zero group is not compressed.
    const single = ['01000100', '01000000', '01000100', '01000100'].join('');
    expect(parseProcNetTcp(tcpLine(0, `${single}:0050`, `${ZERO6}:0000`, '0A', 1), 6)[0]?.address).toBe(
      '1:1:0:1:1:1:1:1',
    );
  });

  it('parses this machine’s /proc/net/tcp without throwing', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile('/proc/net/tcp', 'utf8');
    for (const socket of parseProcNetTcp(text, 4)) {
      expect(socket.port).toBeGreaterThan(0);
      expect(socket.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
  });

  it('skips malformed lines silently and keeps the good ones', () => {
    const good = tcpLine(9, '0100007F:0BB8', '00000000:0000', '0A', 77);
    const bad = [
      'garbage',
      '',
      '   ',
      '  0: 0100007F:0BB8 00000000:0000 0A', // too few fields
      tcpLine(1, '0100007F:0000', '00000000:0000', '0A', 1), // port 0
      tcpLine(2, '0100007G:0BB8', '00000000:0000', '0A', 1), // bad hex
      tcpLine(3, '0100007F:12345', '00000000:0000', '0A', 1), // port too long
      tcpLine(4, '00100007F:0BB8', '00000000:0000', '0A', 1), // address too long
      tcpLine(5, '0100007F0BB8', '00000000:0000', '0A', 1), // no colon
      tcpLine(6, '0100007F:0BB8', '00000000:0000', '0A', -1), // negative inode
      tcpLine(7, '0100007F:', '00000000:0000', '0A', 1), // empty port
      'x:' + tcpLine(8, '0100007F:0BB8', '00000000:0000', '0A', 1), // bad slot
      `${tcpLine(10, '0100007F:0BB8', '00000000:0000', '0A', 1)} ${'x '.repeat(40)}`, // too many fields
      tcpLine(11, '0100007F:0BB8', '00000000:0000', '0A', 1) + ' '.repeat(2000), // absurdly long
      tcpLine(12, '0100007F:0BB8', '00000000:0000', '0A', 1e25), // inode beyond integers
    ];
    expect(parseProcNetTcp([TCP_HEADER, ...bad, good].join('\n'), 4)).toEqual([
      { family: 4, address: '127.0.0.1', port: 3000, inode: 77 },
    ]);
    // An IPv4-length address in tcp6 and an IPv6-length one in tcp are both malformed.
    expect(parseProcNetTcp(good, 6)).toEqual([]);
    expect(parseProcNetTcp(tcpLine(0, `${ZERO6}:0BB8`, `${ZERO6}:0000`, '0A', 1), 4)).toEqual([]);
  });

  it('accepts CRLF line ends and a missing final newline', () => {
    const text = [TCP_HEADER, tcpLine(0, '0100007F:0BB8', '00000000:0000', '0A', 5)].join('\r\n');
    expect(parseProcNetTcp(text, 4)).toHaveLength(1);
  });

  it('never throws on hostile input', () => {
    const hostile = [
      '\0\0\0',
      ':'.repeat(10_000),
      'sl 0A '.repeat(1_000),
      '\n'.repeat(10_000),
      '0: :0A 0A 0A 0A 0A 0A 0A 0A 0A',
      '0: ffffffff:ffff 0 0A x x x x x 1',
      '\u{1F600} 0A'.repeat(100),
      'constructor __proto__ toString 0A',
    ];
    for (const text of hostile) {
      expect(() => parseProcNetTcp(text, 4)).not.toThrow();
      expect(() => parseProcNetTcp(text, 6)).not.toThrow();
    }
    expect(parseProcNetTcp('0: FFFFFFFF:FFFF 0 0A x x x x x 1', 4)).toEqual([
      { family: 4, address: '255.255.255.255', port: 65535, inode: 1 },
    ]);
  });

  it('handles huge input in linear time', () => {
    const line = tcpLine(0, '0100007F:0BB8', '00000000:0000', '0A', 5);
    const time = (lines: number): number => {
      const text = Array.from({ length: lines }, () => line).join('\n');
      const started = performance.now();
      expect(parseProcNetTcp(text, 4)).toHaveLength(lines);
      return performance.now() - started;
    };
    time(2_000); // warm-up
    const small = time(10_000);
    const large = time(100_000);
    // Ten times the input in well under a hundred times the time (quadratic would be ~100×).
    expect(large).toBeLessThan(Math.max(small, 5) * 30);
    // One enormous line with no newline is skipped, not scanned with backtracking.
    const started = performance.now();
    expect(parseProcNetTcp('0'.repeat(5_000_000), 4)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

function socket(family: 4 | 6, address: string, port: number, inode = 1): SocketListener {
  return { family, address, port, inode };
}

describe('groupListenersByPort', () => {
  it('merges the same port on IPv4 and IPv6 into one listener, sorted by port', () => {
    const v4 = socket(4, '127.0.0.1', 5000, 1);
    const v6 = socket(6, '::1', 5000, 2);
    const other = socket(4, '127.0.0.1', 80, 3);
    expect(groupListenersByPort([v4, v6, other])).toEqual([
      { port: 80, scope: 'loopback', dialAddress: '127.0.0.1', sockets: [other] },
      { port: 5000, scope: 'loopback', dialAddress: '127.0.0.1', sockets: [v4, v6] },
    ]);
  });

  it('treats any wildcard binding as wildcard', () => {
    expect(groupListenersByPort([socket(4, '0.0.0.0', 1)])[0]).toMatchObject({
      scope: 'wildcard',
      dialAddress: '127.0.0.1',
    });
    expect(groupListenersByPort([socket(6, '::', 1)])[0]).toMatchObject({
      scope: 'wildcard',
      dialAddress: '::1',
    });
    expect(groupListenersByPort([socket(6, '::', 1), socket(4, '0.0.0.0', 1)])[0]).toMatchObject({
      scope: 'wildcard',
      dialAddress: '127.0.0.1',
    });
    // A specific address next to a wildcard: still wildcard.
    expect(groupListenersByPort([socket(4, '10.0.0.5', 1), socket(4, '0.0.0.0', 1)])[0]?.scope).toBe(
      'wildcard',
    );
    // '::' next to an IPv4 address that is not loopback: only ::1 is sure to answer.
    expect(groupListenersByPort([socket(4, '10.0.0.5', 1), socket(6, '::', 1)])[0]).toMatchObject({
      scope: 'wildcard',
      dialAddress: '::1',
    });
  });

  it('treats 127.0.0.0/8 and ::1 as loopback and dials the first IPv4 loopback address', () => {
    expect(groupListenersByPort([socket(6, '::1', 1), socket(4, '127.0.0.2', 1)])[0]).toMatchObject({
      scope: 'loopback',
      dialAddress: '127.0.0.2',
    });
    expect(groupListenersByPort([socket(6, '::1', 1)])[0]).toMatchObject({
      scope: 'loopback',
      dialAddress: '::1',
    });
  });

  it('dials a specific address itself', () => {
    expect(groupListenersByPort([socket(4, '172.17.0.2', 1)])[0]).toMatchObject({
      scope: 'specific',
      dialAddress: '172.17.0.2',
    });
    expect(groupListenersByPort([socket(6, 'fe80::1', 1)])[0]).toMatchObject({
      scope: 'specific',
      dialAddress: 'fe80::1',
    });
    // Loopback plus a specific address is specific, dialled at the non-loopback address (IPv4 first).
    expect(
      groupListenersByPort([socket(4, '127.0.0.1', 1), socket(6, 'fd00::2', 1), socket(4, '10.1.2.3', 1)])[0],
    ).toMatchObject({ scope: 'specific', dialAddress: '10.1.2.3' });
  });

  it('parses and groups a real pair of files end to end', () => {
    const listeners = groupListenersByPort([
      ...parseProcNetTcp(REAL_TCP, 4),
      ...parseProcNetTcp(REAL_TCP6, 6),
    ]);
    expect(listeners.map((l) => [l.port, l.scope, l.dialAddress])).toEqual([
      [2024, 'wildcard', '127.0.0.1'],
      [8080, 'specific', 'fe80::1'],
      [35915, 'loopback', '127.0.0.1'],
      [37087, 'loopback', '::1'],
      [41423, 'wildcard', '::1'],
      [42055, 'loopback', '127.0.0.2'],
      [43467, 'loopback', '127.0.0.1'],
    ]);
  });

  it('returns nothing for nothing', () => {
    expect(groupListenersByPort([])).toEqual([]);
  });
});
