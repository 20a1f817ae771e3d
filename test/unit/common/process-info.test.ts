import { describe, expect, it } from 'vitest';
import { parseProcStatStartTime } from '../../../src/common/process-info.js';

// Fields 3..52 of a real /proc/PID/stat after the command name; starttime (field 22) is 8675309.
const AFTER_COMM =
  'S 1 4242 4242 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 1 0 8675309 12345678 900 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0';

describe('parseProcStatStartTime', () => {
  it('reads the start time of a plain command', () => {
    expect(parseProcStatStartTime(`4243 (node) ${AFTER_COMM}\n`)).toBe(8675309);
  });

  it('counts fields from the last ")" so a command name with spaces and ")" cannot shift them', () => {
    expect(parseProcStatStartTime(`4243 (my prog) 1 2 3) ${AFTER_COMM}`)).toBe(8675309);
    expect(parseProcStatStartTime(`4243 ()) ) ${AFTER_COMM}`)).toBe(8675309);
    expect(parseProcStatStartTime(`4243 (a (b) c) ${AFTER_COMM}`)).toBe(8675309);
  });

  it('returns null for text that is not a stat line', () => {
    expect(parseProcStatStartTime('')).toBeNull();
    expect(parseProcStatStartTime('4243 node S 1 2')).toBeNull();
    expect(parseProcStatStartTime('4243 (node) S 1 2 3')).toBeNull();
    expect(parseProcStatStartTime(`4243 (node) ${AFTER_COMM.replace('8675309', 'x')}`)).toBeNull();
    expect(parseProcStatStartTime(`4243 (node) ${AFTER_COMM.replace('8675309', '-5')}`)).toBeNull();
  });

  it('reads this process’s real stat line', async () => {
    const { readFile } = await import('node:fs/promises');
    const value = parseProcStatStartTime(await readFile('/proc/self/stat', 'utf8'));
    expect(value).toEqual(expect.any(Number));
    expect(value).toBeGreaterThan(0);
  });
});
