import { setTimeout as sleep } from 'node:timers/promises';
import { progress } from '../log.js';
import { measureRate, type RateResult } from '../measure/udp-rate.js';
import { sustainedStep } from './steps.js';
import { measureRoundTrips } from '../measure/udp-round-trips.js';
import type { Attempt } from '../remote/section.js';
import type { Portpilot } from '../setup/portpilot.js';
import { UDP_PROXY, UDP_RATE_STEPS, UDP_ROUND_TRIPS } from './config.js';
import type { UdpCaseResult, UdpResults } from './results.js';
import { setUpUdp, type UdpCase } from './topology.js';

const SETTLE_MS = 2_000;

/**
 * The UDP section: the direct send, docker-proxy and portpilot's two UDP paths to the same echo
 * server program, one case after another: round trips, then docker-proxy's rate stepped up to its
 * first loss, then every case at the highest rate it carried without loss and at that first lossy one.
 */
export async function runUdpSection(
  image: string,
  portpilot: Portpilot,
  attempt: Attempt,
): Promise<UdpResults> {
  const { container, cases } = await setUpUdp(image, portpilot);
  const portsPath = async (c: UdpCase) => {
    if (c.forwardedPort === null) return null;
    const rows = await portpilot.ports(container.id);
    return rows.find((row) => row.containerPort === c.forwardedPort)?.path ?? 'not forwarded';
  };
  const results = cases.map((c): UdpCaseResult => ({
    name: c.name,
    portsPath: null,
    roundTrips: null,
    atSustained: null,
    atTop: null,
  }));
  const atStart = await Promise.all(cases.map((c) => portsPath(c).catch(() => '?')));
  await sleep(SETTLE_MS);

  for (const [index, c] of cases.entries()) {
    const result = results[index];
    if (!result) continue;
    progress(`UDP: ${UDP_ROUND_TRIPS} round trips: ${c.name}`);
    result.roundTrips = await attempt(`UDP round trips over ${c.name}`, () => measureRoundTrips(c.endpoint));
  }
  const proxy = cases.find((c) => c.name === UDP_PROXY);
  if (!proxy) throw new Error(`no ${UDP_PROXY} case to step the rate up with`);
  const steps: RateResult[] = [];
  for (const rate of UDP_RATE_STEPS) {
    progress(`UDP: ${UDP_PROXY} at ${rate} datagrams/s`);
    const step = await attempt(`UDP rate ${rate}/s over ${UDP_PROXY}`, () =>
      measureRate(proxy.endpoint, rate),
    );
    if (!step) break;
    steps.push(step);
    if (step.loss > 0) break;
  }
  const sustainedRate = sustainedStep(steps);
  const topRate = steps.at(-1)?.ratePerS ?? UDP_RATE_STEPS[0];
  for (const [index, c] of cases.entries()) {
    const result = results[index];
    if (!result) continue;
    if (sustainedRate !== null) {
      progress(`UDP: ${c.name} at ${sustainedRate} datagrams/s`);
      result.atSustained = await attempt(`UDP rate ${sustainedRate}/s over ${c.name}`, () =>
        measureRate(c.endpoint, sustainedRate),
      );
    }
    if (topRate !== sustainedRate) {
      progress(`UDP: ${c.name} at ${topRate} datagrams/s`);
      result.atTop = await attempt(`UDP rate ${topRate}/s over ${c.name}`, () =>
        measureRate(c.endpoint, topRate),
      );
    }
  }

  const atEnd = await Promise.all(cases.map((c) => portsPath(c).catch(() => '?')));
  results.forEach((result, i) => {
    const [before, after] = [atStart[i], atEnd[i]];
    result.portsPath = before === after ? (before ?? null) : `${before ?? '?'} → ${after ?? '?'}`;
  });
  return { steps, sustainedRate, topRate, cases: results };
}
