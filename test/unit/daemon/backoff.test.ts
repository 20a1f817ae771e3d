import { describe, expect, it } from 'vitest';
import { RETRY_FIRST_MS, RETRY_MAX_MS, retryDelayMs } from '../../../src/daemon/backoff.js';

describe('retryDelayMs', () => {
  it('doubles from the first wait with each failure in a row', () => {
    expect([1, 2, 3].map((failures) => retryDelayMs(failures))).toEqual([
      RETRY_FIRST_MS,
      RETRY_FIRST_MS * 2,
      RETRY_FIRST_MS * 4,
    ]);
  });

  it('never waits longer than the maximum, however long the failures last', () => {
    expect(retryDelayMs(10)).toBe(RETRY_MAX_MS);
    expect(retryDelayMs(1_000_000)).toBe(RETRY_MAX_MS);
    expect(retryDelayMs(5, 100, 1_000)).toBe(1_000);
  });
});
