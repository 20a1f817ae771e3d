import { describe, expect, it } from 'vitest';
import {
  EXEC_FULL_SCAN_INTERVAL_MS,
  fullScanIntervalOf,
  FULL_SCAN_INTERVAL_MS,
  MAX_SOCKET_SCAN_GAP_MS,
  MIN_SCAN_GAP_MS,
  ScanSchedule,
} from '../../../src/daemon/scan-schedule.js';

/** Checks every `step` ms from `from` with the same hint; the times at which a scan ran. */
function run(schedule: ScanSchedule, hint: 'none' | 'sockets' | 'processes', from: number, to: number) {
  const scans: number[] = [];
  for (let now = from; now < to; now += 50) {
    if (schedule.due(hint, now)) {
      scans.push(now);
      schedule.scanned('same listeners', now);
    }
  }
  return scans;
}

describe('ScanSchedule', () => {
  it('scans at once, then every FULL_SCAN_INTERVAL_MS when nothing changes', () => {
    const schedule = new ScanSchedule();
    expect(run(schedule, 'none', 0, 6_001)).toEqual([0, 2_000, 4_000, 6_000]);
    expect(FULL_SCAN_INTERVAL_MS).toBe(2_000);
  });

  it('takes a longer full-scan interval where it is given one', () => {
    expect(run(new ScanSchedule(10_000), 'none', 0, 20_001)).toEqual([0, 10_000, 20_000]);
  });

  it('scans MIN_SCAN_GAP_MS after the last scan when the processes change', () => {
    const schedule = new ScanSchedule();
    schedule.due('none', 0);
    schedule.scanned('a', 0);
    expect(schedule.due('processes', 100)).toBe(false);
    // The change is kept until the gap has passed, even if the next check sees nothing new.
    expect(schedule.due('none', MIN_SCAN_GAP_MS)).toBe(true);
  });

  it('backs off while socket-count changes find the same listeners, and comes back on a change', () => {
    const schedule = new ScanSchedule();
    const scans = run(schedule, 'sockets', 0, 5_000);
    const gaps = scans.slice(1).map((t, i) => t - (scans[i] ?? 0));
    expect(gaps.slice(0, 3)).toEqual([250, 500, 1_000]);
    expect(Math.max(...gaps)).toBe(MAX_SOCKET_SCAN_GAP_MS);

    schedule.due('sockets', 6_000);
    schedule.scanned('a new listener', 6_000);
    expect(schedule.due('sockets', 6_000 + MIN_SCAN_GAP_MS)).toBe(true);
  });

  it('a process change is not slowed by the socket back-off', () => {
    const schedule = new ScanSchedule();
    run(schedule, 'sockets', 0, 3_000);
    const last = 2_900;
    schedule.scanned('same listeners', last);
    expect(schedule.due('processes', last + MIN_SCAN_GAP_MS)).toBe(true);
  });
});

describe('fullScanIntervalOf', () => {
  it('reads tables through exec every second, so a listener is seen within 2 s; from /proc every 2 s', () => {
    expect(fullScanIntervalOf('exec')).toBe(EXEC_FULL_SCAN_INTERVAL_MS);
    expect(EXEC_FULL_SCAN_INTERVAL_MS).toBeLessThanOrEqual(1_000);
    expect(fullScanIntervalOf('host-proc')).toBe(FULL_SCAN_INTERVAL_MS);
  });
});
