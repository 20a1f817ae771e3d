import { describe, expect, it } from 'vitest';
import { ForwarderError } from '../../../src/common/errors.js';
import { fillProgram } from '../../../src/forwarding/container-programs/program-text.js';

describe('fillProgram', () => {
  it('puts numbers in bare, words in quotes and lists as bare words, quotes and all', () => {
    const text = "size = '@@SIZE@@'\nmagic = b'@@MAGIC@@'\nfor p in '@@PROGRAMS@@'; do\n";
    expect(fillProgram('x', text, { SIZE: 262_144, MAGIC: 'PPA1', PROGRAMS: ['socat', 'nc'] })).toBe(
      "size = 262144\nmagic = b'PPA1'\nfor p in socat nc; do\n",
    );
  });

  it('fills every occurrence of a placeholder and leaves other text alone', () => {
    const text = "a('@@N@@'); b('@@N@@'); c('@@n@@'); d(@@N@@); e('@@N@@ ')";
    expect(fillProgram('x', text, { N: 7 })).toBe("a(7); b(7); c('@@n@@'); d(@@N@@); e('@@N@@ ')");
  });

  it('refuses a placeholder without a value and a value without a placeholder', () => {
    expect(() => fillProgram('x.py', "n = '@@MISSING@@'", {})).toThrow(/x\.py names '@@MISSING@@'/);
    expect(() => fillProgram('x.py', "n = '@@N@@'", { N: 1, EXTRA: 2 })).toThrow(/no placeholder for EXTRA/);
    expect(() => fillProgram('x.py', "n = '@@MISSING@@'", {})).toThrow(ForwarderError);
  });

  it('refuses a value that could leave its quotes or is not a whole number', () => {
    for (const value of ["it's", 'a b', '', 'x\n', 1.5, Number.NaN, [], ['ok', 'not ok']]) {
      expect(() => fillProgram('x.sh', "v='@@V@@'", { V: value }), JSON.stringify(value)).toThrow(
        ForwarderError,
      );
    }
  });
});
