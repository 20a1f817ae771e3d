import type { RateResult } from '../measure/udp-rate.js';
import { ratio } from '../stats.js';
import {
  UDP_IN_PROCESS_ENV,
  UDP_PORTS,
  UDP_PROXY,
  UDP_RATE_BYTES,
  UDP_RATE_DRAIN_MS,
  UDP_RATE_SECONDS,
  UDP_RATE_TRIES,
  UDP_ROUND_TRIP_BYTES,
  UDP_ROUND_TRIP_ROUNDS,
  UDP_ROUND_TRIP_TIMEOUT_MS,
  UDP_ROUND_TRIP_WARM_UP,
  UDP_ROUND_TRIPS,
} from '../udp/config.js';
import type { UdpResults } from '../udp/results.js';
import { formatNumber, withRatio } from './format.js';
import { check, markdownTable, targetsRows } from './markdown-table.js';
import type { TargetResult } from './results.js';

/** Pure: the UDP targets, as ratios in the run: portpilot's direct path at least docker-proxy's round trips, and no loss at its rate. */
export function evaluateUdpTargets(udp: UdpResults): TargetResult[] {
  const proxy = udp.cases.find((c) => c.name === UDP_PROXY);
  const direct = udp.cases.find((c) => c.name === 'portpilot-direct');
  const share = ratio(direct?.roundTrips?.perS, proxy?.roundTrips?.perS);
  const rate =
    udp.sustainedRate === null ? 'docker-proxy’s lossless rate (none found)' : `${udp.sustainedRate}/s`;
  return [
    check(
      `portpilot-direct: round trips/s ≥ ${UDP_PROXY}'s`,
      `${formatNumber(share)}× ${UDP_PROXY}'s`,
      share,
      (v) => v >= 1,
    ),
    ...udp.cases
      .filter((c) => c.name.startsWith('portpilot-'))
      .map((c) =>
        check(
          `${c.name}: no loss at ${rate}, the highest step ${UDP_PROXY} carried without loss`,
          c.atSustained ? `${c.atSustained.sent - c.atSustained.echoed} of ${c.atSustained.sent} lost` : '',
          c.atSustained ? c.atSustained.sent - c.atSustained.echoed : null,
          (v) => v === 0,
        ),
      ),
  ];
}

function rateCell(run: RateResult | null): string {
  if (!run) return '—';
  const lost = run.sent - run.echoed;
  return `${formatNumber(run.echoedMbPerS)} MB/s, ${lost === 0 ? 'none lost' : `${formatNumber(run.loss * 100)}% lost`}`;
}

/** Pure: the UDP cases side by side; round trips as × docker-proxy's. */
export function udpTable(udp: UdpResults): string {
  const proxy = udp.cases.find((c) => c.name === UDP_PROXY);
  const header = [
    'case',
    'ports path',
    `round trips/s (× ${UDP_PROXY})`,
    'RTT p50 / p99 µs',
    `at ${udp.sustainedRate ?? '—'}/s`,
    `at ${udp.topRate}/s`,
  ];
  const rows = udp.cases.map((c) => [
    `**${c.name}**`,
    c.portsPath ?? '—',
    withRatio(c.roundTrips?.perS, ratio(c.roundTrips?.perS, proxy?.roundTrips?.perS)) +
      (c.roundTrips?.lost ? ` [${c.roundTrips.lost} lost]` : ''),
    c.roundTrips ? `${formatNumber(c.roundTrips.p50Us)} / ${formatNumber(c.roundTrips.p99Us)}` : '—',
    rateCell(c.atSustained),
    rateCell(c.atTop),
  ]);
  return markdownTable(header, rows);
}

/** Pure: docker-proxy's rate steps as one line ("2000/s none lost, 4000/s 0.1% lost"). */
export function stepsLine(udp: UdpResults): string {
  return udp.steps
    .map(
      (s) => `${s.ratePerS}/s ${s.echoed === s.sent ? 'none lost' : `${formatNumber(s.loss * 100)}% lost`}`,
    )
    .join(', ');
}

const UDP_NOTES = `- One container of the Debian test image runs three copies of the tests' UDP echo server
  (test/support/servers/udp-echo.py, python3): on 0.0.0.0:${UDP_PORTS.direct}, on 127.0.0.1:${UDP_PORTS.netns}, and on
  0.0.0.0:${UDP_PORTS.published}, published with \`docker run -p 127.0.0.1:HOSTPORT:${UDP_PORTS.published}/udp\`; one auto forwarder watches it.
  A second container runs the 0.0.0.0:${UDP_PORTS.direct} one alone, watched by a forwarder started with ${Object.entries(
    UDP_IN_PROCESS_ENV,
  )
    .map(([key, value]) => `${key}=${value}`)
    .join(' ')}.
- **direct**: the host sends to the container's address, port ${UDP_PORTS.direct}: the machine's limit.
  **${UDP_PROXY}**: Docker's own proxy for the published port. **portpilot-direct**: the forward of the 0.0.0.0 server
  (relayed by the native program); **portpilot-in-process**: the same forward relayed in the forwarder's own process (Node);
  **portpilot-netns**: the forward of the 127.0.0.1 one (the README's "UDP": *ports path* is \`ports --json\`'s path).
- Round trips: one client per case sends a ${UDP_ROUND_TRIP_BYTES}-byte datagram and waits for its echo before the next, ${UDP_ROUND_TRIPS} in
  all after ${UDP_ROUND_TRIP_WARM_UP} to warm up, in ${UDP_ROUND_TRIP_ROUNDS} runs taken case by case in turn (one with no echo in ${UDP_ROUND_TRIP_TIMEOUT_MS} ms counts as lost).
- Rate: a new client sends numbered ${UDP_RATE_BYTES}-byte datagrams at a fixed rate for ${UDP_RATE_SECONDS} s (paced against the clock) and counts
  the distinct echoes that come back until ${UDP_RATE_DRAIN_MS / 1000} s after the last send; MB/s is echoed bytes over the sending time.
  ${UDP_PROXY}'s rate is stepped up (about ×1.5 a step) until a step loses datagrams in ${UDP_RATE_TRIES} runs in a row (one lossy run may be a
  stall of the shared machine); then every case runs once at the highest step it carried without loss, and at the step it lost at. The client, the relay and the single-threaded python server share two
  cores, so past some rate the server itself drops.`;

/** Pure: the UDP section of bench/latest.md (its heading included). */
export function renderUdpSection(
  udp: UdpResults | null,
  targets: readonly TargetResult[],
  skipped: string | null,
): string {
  const parts = ['## UDP, side by side', ''];
  if (!udp) parts.push(skipped ? `Not measured: ${skipped}.` : 'Not run in this run (`--sections`).', '');
  else {
    parts.push(udpTable(udp), '');
    parts.push(
      `Round trips as a ratio to **${UDP_PROXY}**. ${UDP_PROXY}'s steps: ${stepsLine(udp) || 'none'}.`,
      '',
      UDP_NOTES,
      '',
      '### Targets (UDP)',
      '',
      targetsRows(targets),
      '',
    );
  }
  return parts.join('\n') + '\n';
}
