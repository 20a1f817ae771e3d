import type { RateResult } from '../measure/udp-rate.js';

/** Pure: the highest step carried without loss before the first lossy one (null if the first lost). */
export function sustainedStep(steps: readonly RateResult[]): number | null {
  let sustained: number | null = null;
  for (const step of steps) {
    if (step.loss > 0) break;
    sustained = step.ratePerS;
  }
  return sustained;
}
