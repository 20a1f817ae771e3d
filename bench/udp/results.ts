import type { RateResult } from '../measure/udp-rate.js';
import type { RoundTripResult } from '../measure/udp-round-trips.js';
import type { UdpCaseName } from './config.js';

/** Everything measured over one UDP case; null where it could not be made. */
export interface UdpCaseResult {
  name: UdpCaseName;
  /** portpilot cases: `ports --json`'s path for the forward (at the start → at the end). */
  portsPath: string | null;
  roundTrips: RoundTripResult | null;
  /** At the highest rate docker-proxy carried without loss, and at the first step it lost at. */
  atSustained: RateResult | null;
  atTop: RateResult | null;
}

/** The UDP section of a run. */
export interface UdpResults {
  /** docker-proxy's runs as the rate stepped up, to its first loss. */
  steps: RateResult[];
  /** The highest step docker-proxy carried without loss (null: it lost even at the lowest). */
  sustainedRate: number | null;
  /** The first step docker-proxy lost at (or the highest step, if it never lost). */
  topRate: number;
  cases: UdpCaseResult[];
}
