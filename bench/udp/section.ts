import { setTimeout as sleep } from 'node:timers/promises';
import { progress } from '../log.js';
import { measureRate, type RateResult } from '../measure/udp-rate.js';
import { sustainedStep } from './steps.js';
import { openRoundTripper, roundTripResult, type RoundTripTally } from '../measure/udp-round-trips.js';
import type { Attempt } from '../remote/section.js';
import type { Portpilot } from '../setup/portpilot.js';
import {
  UDP_PROXY,
  UDP_RATE_STEPS,
  UDP_RATE_TRIES,
  UDP_ROUND_TRIP_ROUNDS,
  UDP_ROUND_TRIP_WARM_UP,
  UDP_ROUND_TRIPS,
} from './config.js';
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
  const { cases } = await setUpUdp(image, portpilot);
  const portsPath = async ({ forward }: UdpCase) => {
    if (forward === null) return null;
    const rows = await forward.portpilot.ports(forward.containerId);
    return rows.find((row) => row.containerPort === forward.port)?.path ?? 'not forwarded';
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

  progress(
    `UDP: ${UDP_ROUND_TRIPS} round trips a case, ${UDP_ROUND_TRIP_ROUNDS} runs each, case by case in turn`,
  );
  await attempt('UDP round trips', async () => {
    const clients = await Promise.all(cases.map((c) => openRoundTripper(c.endpoint)));
    try {
      for (const client of clients) await client.run(UDP_ROUND_TRIP_WARM_UP);
      const tallies = cases.map((): RoundTripTally[] => []);
      for (let round = 0; round < UDP_ROUND_TRIP_ROUNDS; round++) {
        for (const [index, client] of clients.entries())
          tallies[index]?.push(await client.run(UDP_ROUND_TRIPS / UDP_ROUND_TRIP_ROUNDS));
      }
      tallies.forEach((tally, index) => {
        const result = results[index];
        if (result) result.roundTrips = roundTripResult(tally);
      });
    } finally {
      for (const client of clients) client.close();
    }
  });
  const proxy = cases.find((c) => c.name === UDP_PROXY);
  if (!proxy) throw new Error(`no ${UDP_PROXY} case to step the rate up with`);
  const steps: RateResult[] = [];
  stepping: for (const rate of UDP_RATE_STEPS) {
    // A step that loses is tried once more: a stall of the shared machine overflows a socket buffer.
    for (let run = 1; run <= UDP_RATE_TRIES; run++) {
      progress(`UDP: ${UDP_PROXY} at ${rate} datagrams/s${run > 1 ? ', again' : ''}`);
      const step = await attempt(`UDP rate ${rate}/s over ${UDP_PROXY}`, () =>
        measureRate(proxy.endpoint, rate),
      );
      if (!step) break stepping;
      steps.push(step);
      if (step.loss === 0) continue stepping;
    }
    break;
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
