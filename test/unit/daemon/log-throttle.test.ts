import { describe, expect, it } from 'vitest';
import { WarningThrottle } from '../../../src/daemon/log-throttle.js';

describe('WarningThrottle', () => {
  it('writes a warning once a window and counts the repeats it held back', () => {
    const throttle = new WarningThrottle(1_000);
    expect(throttle.admit('cannot connect', 0)).toEqual({ write: true, suppressed: 0 });
    for (let t = 1; t < 1_000; t += 10) expect(throttle.admit('cannot connect', t)).toEqual({ write: false });
    expect(throttle.admit('cannot connect', 1_000)).toEqual({ write: true, suppressed: 100 });
    expect(throttle.admit('cannot connect', 2_500)).toEqual({ write: true, suppressed: 0 });
  });

  it('throttles each message on its own', () => {
    const throttle = new WarningThrottle(1_000);
    expect(throttle.admit('a', 0).write).toBe(true);
    expect(throttle.admit('b', 1).write).toBe(true);
    expect(throttle.admit('a', 2).write).toBe(false);
  });
});
