import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EPHEMERAL_RANGE,
  parsePortRange,
  parseProcNetUdp,
} from '../../../../src/forwarding/detect/proc-net-udp.js';
import { parseProcNetTcp } from '../../../../src/forwarding/detect/proc-net-tcp.js';

// Read from a container here: 0.0.0.0:9999, a socket connected to 127.0.0.1:5353 (a client), and
// 127.0.0.1:5353; then :::7777 in udp6.
const REAL_UDP = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ',
  ' 4483: 00000000:270F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3868545 2 00000000aa509157 0       ',
  ' 5352: 0100007F:EA74 0100007F:14E9 01 00000000:00000000 00:00000000 00000000     0        0 3868547 2 00000000eec9cdb8 0       ',
  '16221: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3868544 2 000000009a6525c7 0       ',
  '',
].join('\n');
const REAL_UDP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
  ' 2261: 00000000000000000000000000000000:1E61 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3868546 2 000000004a70f4fc 0',
  '',
].join('\n');

function udpLine(local: string, remote = '00000000:0000', state = '07', inode = 1): string {
  return `  1: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 2 0000000000000000 0`;
}

describe('parseProcNetUdp', () => {
  it('finds unconnected servers bound to loopback or a wildcard, IPv4 and IPv6, never a connected client', () => {
    const listeners = parseProcNetUdp(`${REAL_UDP}${REAL_UDP6}`);
    expect(listeners).toEqual([
      {
        port: 5353,
        scope: 'loopback',
        dialAddress: '127.0.0.1',
        sockets: [{ family: 4, address: '127.0.0.1', port: 5353, inode: 3868544 }],
        protocol: 'udp',
      },
      {
        port: 7777,
        scope: 'wildcard',
        dialAddress: '::1',
        sockets: [{ family: 6, address: '::', port: 7777, inode: 3868546 }],
        protocol: 'udp',
      },
      {
        port: 9999,
        scope: 'wildcard',
        dialAddress: '127.0.0.1',
        sockets: [{ family: 4, address: '0.0.0.0', port: 9999, inode: 3868545 }],
        protocol: 'udp',
      },
    ]);
  });

  it('leaves out ports in the ephemeral range (clients), whatever range the container has', () => {
    const text = [udpLine('00000000:8000'), udpLine('00000000:EA60'), udpLine('00000000:1F90')].join('\n');
    expect(parseProcNetUdp(text).map((l) => l.port)).toEqual([8080]);
    expect(parseProcNetUdp(text, { from: 40000, to: 50000 }).map((l) => l.port)).toEqual([
      8080, 32768, 60000,
    ]);
  });

  it('leaves out a socket bound to one particular address of the container', () => {
    expect(parseProcNetUdp(udpLine('020011AC:14E9'))).toEqual([]);
  });

  it('leaves out TCP lines read in the same cat (listeners and TIME_WAIT alike)', () => {
    const tcpListen = `  0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1604 1 00000000b6be4c64 100 0 0 10 0`;
    const tcpClose = `  0: 00000000:07E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1605 1 00000000b6be4c64 100 0 0 10 0`;
    expect(parseProcNetUdp(`${tcpListen}\n${tcpClose}`)).toEqual([]);
    // And the TCP parser takes no UDP line for a listener.
    expect(parseProcNetTcp(REAL_UDP, 4)).toEqual([]);
  });

  it('survives hostile text: garbage, huge lines, odd fields, binary', () => {
    const hostile = [
      '\u0000\u0001\u00ff'.repeat(1000),
      'x'.repeat(2_000_000),
      udpLine('0100007F:FFFFF'),
      udpLine('0100007G:14E9'),
      udpLine('0100007F:0000'),
      udpLine('0100007F:14E9', '0100007F:0000'),
      udpLine('0100007F:14E9', '00000000:0000', '7'),
      udpLine('0100007F:14E9', '00000000000000000000000000000000:0000'),
      udpLine('0100007F'),
      `${udpLine('0100007F:14E9')} extra`,
      '  1: 0100007F:14E9',
      '\n'.repeat(10_000),
    ].join('\n');
    expect(parseProcNetUdp(hostile)).toEqual([]);
    expect(parseProcNetUdp(undefined as unknown as string)).toEqual([]);
    expect(parseProcNetUdp('')).toEqual([]);
  });
});

describe('parsePortRange', () => {
  it('reads the kernel text, alone or after other tables', () => {
    expect(parsePortRange('32768\t60999\n')).toEqual({ from: 32768, to: 60999 });
    expect(parsePortRange(`${REAL_UDP}40000\t50000\n`)).toEqual({ from: 40000, to: 50000 });
  });

  it('falls back to the default on anything else', () => {
    for (const text of ['', 'abc', '60999 32768', '0 100', '1 70000', '1\t2\t3'])
      expect(parsePortRange(text)).toEqual(DEFAULT_EPHEMERAL_RANGE);
  });
});
