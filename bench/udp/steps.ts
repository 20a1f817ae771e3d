import type { RateResult } from '../measure/udp-rate.js';

/** Pure: whether a step (every run at its rate so far) has lost in each run; a step may be tried twice. */
export function stepLost(steps: readonly RateResult[], ratePerS: number): boolean {
  const runs = steps.filter((step) => step.ratePerS === ratePerS);
  return runs.length > 0 && runs.every((run) => run.loss > 0);
}

/**
 * Pure: the highest rate carried without loss before the first rate that lost in every run (null if
 * the first did). One lossy run of a rate that another run carried cleanly is the shared machine's
 * stall, not the path's limit.
 */
export function sustainedStep(steps: readonly RateResult[]): number | null {
  let sustained: number | null = null;
  for (const rate of [...new Set(steps.map((step) => step.ratePerS))]) {
    if (stepLost(steps, rate)) break;
    sustained = rate;
  }
  return sustained;
}
