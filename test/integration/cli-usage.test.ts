import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, runCli } from '../support/cli.js';

// Command-line mistakes are caught before anything touches the engine or the state dir.
const stateDir = makeStateDir();
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('a command-line mistake', () => {
  it('gives up its JSON error line on stdout, and the error and a hint on stderr', async () => {
    const run = await runCli(stateDir, ['up', '--auto-forward', '--bogus']);
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      outcome: 'error',
      message: "unknown option '--bogus'",
      description: "Run 'portpilot up --help' for its options.",
      code: 'USAGE',
    });
    expect(run.stderr).toBe("error: unknown option '--bogus'\nRun 'portpilot up --help' for its options.");
  });

  it('names the value and the choices for a bad up --relay-path, in one JSON line', async () => {
    const run = await runCli(stateDir, ['up', '--relay-path', 'fast']);
    expect(run.exitCode).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '') as { message: string; code: string };
    expect(line.code).toBe('USAGE');
    expect(line.message).toContain("'fast'");
    expect(line.message).toContain('auto, direct, agent, exec');
  });

  it('in exec, shows where the command goes', async () => {
    const run = await runCli(stateDir, ['exec', 'ls', '-la']);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("error: unknown option '-la'");
    expect(run.stderr).toContain("'portpilot exec -- ls -la'");
  });

  it.each(['ports', 'down'])('in %s, points at its --help', async (command) => {
    const run = await runCli(stateDir, [command, '--nope']);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `error: unknown option '--nope'\nRun 'portpilot ${command} --help' for its options.`,
    );
  });

  it('leaves --help as it was: the help on stdout, exit code 0', async () => {
    const run = await runCli(stateDir, ['up', '--help']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('Usage: portpilot up [options]');
    expect(run.stderr).toBe('');
  });
});
