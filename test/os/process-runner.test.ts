import { describe, expect, it } from 'vitest';
import { daemonRunner, localRunner } from '../../src/runtime/process-runner.js';

// Each command here would run for ten minutes or write without end: the test's own timeout (30 s)
// fails any bound that does not hold.
describe.each([
  ['daemonRunner', daemonRunner],
  ['localRunner', localRunner],
])('%s bounds a command', (_name, runner) => {
  it('stops one that runs past timeoutMs, and says so', async () => {
    const result = await runner.run('sleep', ['600'], { timeoutMs: 300 });
    expect(result.limit).toBe('time');
    expect(result.exitCode).not.toBe(0);
  });

  it('stops one whose output passes maxOutputBytes, and keeps no more than that', async () => {
    const cap = 64 * 1024;
    const result = await runner.run('yes', ['portpilot'], { maxOutputBytes: cap });
    expect(result.limit).toBe('output');
    expect(result.exitCode).not.toBe(0);
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(cap);
  });

  it('leaves a command within its bounds alone', async () => {
    const result = await runner.run('sh', ['-c', 'echo out; echo err >&2; exit 3'], {
      timeoutMs: 20_000,
      maxOutputBytes: 1024,
    });
    expect(result).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  });
});

describe('daemonRunner', () => {
  it('returns at the time bound even when a grandchild still holds the output open', async () => {
    // As the `ssh` of an ssh:// engine outlives a killed `docker` client.
    const result = await daemonRunner.run('sh', ['-c', 'sleep 600 & exec sleep 600'], { timeoutMs: 300 });
    expect(result.limit).toBe('time');
  });
});
