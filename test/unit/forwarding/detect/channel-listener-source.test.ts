import { describe, expect, it } from 'vitest';
import { parseReportedTables } from '../../../../src/forwarding/detect/channel-listener-source.js';

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP_LISTEN =
  '   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0';
const UDP_SERVER =
  '16221: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3868544 2 000000009a6525c7 0';
const UDP6_SERVER =
  ' 2261: 00000000000000000000000000000000:1E61 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3868546 2 000000004a70f4fc 0';
// An unconnected socket on a port of the reported ephemeral range: a client's.
const UDP_CLIENT =
  ' 4483: 0100007F:9C41 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3868545 2 00000000aa509157 0';

describe('parseReportedTables', () => {
  it("reads a mux agent's report: TCP listeners, then UDP servers by the container's ephemeral range", () => {
    const report = [
      TCP_HEADER,
      TCP_LISTEN,
      TCP_HEADER,
      UDP_SERVER,
      UDP6_SERVER,
      UDP_CLIENT,
      '32768\t60999',
    ].join('\n');
    const found = parseReportedTables(report).map(({ port, protocol = 'tcp', scope }) => ({
      port,
      protocol,
      scope,
    }));
    expect(found).toEqual([
      { port: 3000, protocol: 'tcp', scope: 'loopback' },
      { port: 5353, protocol: 'udp', scope: 'loopback' },
      { port: 7777, protocol: 'udp', scope: 'wildcard' },
    ]);
    // Under another range, the same socket is a server's.
    const wider = report.replace('32768\t60999', '61000\t62000');
    expect(parseReportedTables(wider).some((listener) => listener.port === 0x9c41)).toBe(true);
  });

  it('reads a report of TCP tables alone, as an agent without UDP sockets sends', () => {
    const found = parseReportedTables([TCP_HEADER, TCP_LISTEN, TCP_HEADER].join('\n'));
    expect(found.map((listener) => listener.port)).toEqual([3000]);
  });
});
