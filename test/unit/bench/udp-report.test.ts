import { describe, expect, it } from 'vitest';
import type { RateResult } from '../../../bench/measure/udp-rate.js';
import { evaluateUdpTargets, stepsLine } from '../../../bench/report/udp.js';
import type { UdpCaseResult, UdpResults } from '../../../bench/udp/results.js';
import { sustainedStep } from '../../../bench/udp/steps.js';
import { udpBound } from '../../../bench/udp/topology.js';

const rate = (ratePerS: number, lost: number): RateResult => {
  const sent = ratePerS * 2;
  return { ratePerS, sentPerS: ratePerS, sent, echoed: sent - lost, loss: lost / sent, echoedMbPerS: 1 };
};
const roundTrips = (perS: number) => ({ perS, p50Us: 50, p99Us: 100, answered: 5000, lost: 0 });

function udpCase(name: UdpCaseResult['name'], figures: Partial<UdpCaseResult>): UdpCaseResult {
  return { name, portsPath: null, roundTrips: null, atSustained: null, atTop: null, ...figures };
}

// /proc/net/udp: 0.0.0.0:25001, 127.0.0.1:25002 (0x61A9, 0x61AA).
const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  101: 00000000:61A9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000 0
  102: 0100007F:61AA 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2 2 0000 0
`;

describe('the UDP bench section', () => {
  it('takes the highest rate carried without loss before the first step lossy in every run', () => {
    expect(sustainedStep([rate(1000, 0), rate(2000, 0), rate(3000, 5), rate(4000, 0)])).toBe(2000);
    const retried = [rate(1000, 0), rate(1500, 2), rate(1500, 0), rate(2000, 1), rate(2000, 4)];
    expect(sustainedStep(retried)).toBe(1500);
    expect(sustainedStep([rate(1000, 1)])).toBeNull();
    expect(
      stepsLine({ steps: [rate(1000, 0), rate(2000, 40)], sustainedRate: 1000, topRate: 2000, cases: [] }),
    ).toBe('1000/s none lost, 2000/s 1.00% lost');
  });

  it('reads which servers are bound from /proc/net/udp', () => {
    expect(
      udpBound(PROC_NET_UDP, [
        { host: '0.0.0.0', port: 25001 },
        { host: '127.0.0.1', port: 25002 },
        { host: '127.0.0.1', port: 25001 },
      ]),
    ).toEqual([true, true, false]);
  });

  it("checks portpilot's round trips against docker-proxy's, and no loss at docker-proxy's rate", () => {
    const udp: UdpResults = {
      steps: [],
      sustainedRate: 2000,
      topRate: 3000,
      cases: [
        udpCase('docker-proxy', { roundTrips: roundTrips(20_000), atSustained: rate(2000, 0) }),
        udpCase('portpilot-direct', { roundTrips: roundTrips(25_000), atSustained: rate(2000, 0) }),
        udpCase('portpilot-netns', { roundTrips: roundTrips(10_000), atSustained: rate(2000, 3) }),
      ],
    };
    expect(evaluateUdpTargets(udp).map((t) => [t.target, t.measured, t.pass])).toEqual([
      ["portpilot-direct: round trips/s ≥ docker-proxy's", "1.25× docker-proxy's", true],
      [
        'portpilot-direct: no loss at 2000/s, the highest step docker-proxy carried without loss',
        '0 of 4000 lost',
        true,
      ],
      [
        'portpilot-netns: no loss at 2000/s, the highest step docker-proxy carried without loss',
        '3 of 4000 lost',
        false,
      ],
    ]);
  });
});
