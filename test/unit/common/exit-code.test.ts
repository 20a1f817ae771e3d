import { describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../../src/common/exit-code.js';

describe('exitCodeOf', () => {
  it('keeps an exit code, and turns a signal into 128 + its number, as a shell does', () => {
    expect(exitCodeOf(0, null)).toBe(0);
    expect(exitCodeOf(3, null)).toBe(3);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
    expect(exitCodeOf(null, 'SIGHUP')).toBe(129);
    expect(exitCodeOf(null, null)).toBe(1);
  });
});
