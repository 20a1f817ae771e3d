import { describe, expect, it } from 'vitest';
import { MAX_ENV_FILE_LINE_BYTES, planEnvPassing } from '../../../src/devcontainer/passed-env.js';

describe('planEnvPassing', () => {
  it('puts values an env file carries in it, as they are', () => {
    const plan = planEnvPassing({ TOKEN: 's3cret', SPACED: '  two  words ', EMPTY: '', EQ: 'a=b#c' });
    expect(plan.fileText).toBe('TOKEN=s3cret\nSPACED=  two  words \nEMPTY=\nEQ=a=b#c\n');
    expect(plan.byEnvironment).toEqual({});
  });

  it('passes by the environment what a line of an env file cannot hold', () => {
    const long = 'x'.repeat(MAX_ENV_FILE_LINE_BYTES);
    const plan = planEnvPassing({
      PEM: 'line one\nline two',
      CR: 'ends\r',
      LONG: long,
      '#HASH': 'v',
      OK: '1',
    });
    expect(plan.fileText).toBe('OK=1\n');
    expect(plan.byEnvironment).toEqual({ PEM: 'line one\nline two', CR: 'ends\r', LONG: long, '#HASH': 'v' });
  });

  it('needs no file for no variables', () => {
    expect(planEnvPassing({})).toEqual({ fileText: null, byEnvironment: {} });
  });
});
