import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withPassedEnv } from '../../src/workspace/passed-env.js';

describe('withPassedEnv', () => {
  it('writes the env file 0600 in a 0700 folder, and removes both once the command is done', async () => {
    let file = '';
    const flags = await withPassedEnv({ TOKEN: 's3cret', PEM: 'a\nb' }, async (passed) => {
      file = passed.flags[passed.flags.indexOf('--env-file') + 1] ?? '';
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      expect(readFileSync(file, 'utf8')).toBe('TOKEN=s3cret\n');
      expect(passed.processEnv?.PEM).toBe('a\nb');
      expect(passed.processEnv?.PATH).toBe(process.env.PATH);
      return passed.flags;
    });
    expect(flags).toEqual(['--env-file', file, '-e', 'PEM']);
    expect(existsSync(path.dirname(file))).toBe(false);
  });

  it('removes the file when the command fails too', async () => {
    let file = '';
    await expect(
      withPassedEnv({ TOKEN: 's3cret' }, (passed) => {
        file = passed.flags[1] ?? '';
        return Promise.reject(new Error('docker failed'));
      }),
    ).rejects.toThrow('docker failed');
    expect(file).not.toBe('');
    expect(existsSync(file)).toBe(false);
  });

  it('passes nothing, and leaves our environment alone, for no variables', async () => {
    expect(await withPassedEnv({}, async (passed) => passed)).toEqual({ flags: [], processEnv: undefined });
  });
});
