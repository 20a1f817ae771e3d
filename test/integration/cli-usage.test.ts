import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, runCli } from '../support/cli.js';

// Command-line mistakes are caught before anything touches the engine or the state dir; up's and
// exec's unknown flags go to the Dev Containers CLI, which refuses its own.
const stateDir = makeStateDir();
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('a command-line mistake', () => {
  it("passes up's unknown flags to the Dev Containers CLI, whose refusal is up's one JSON error line", async () => {
    const run = await runCli(stateDir, ['up', '--auto-forward', '--bogus']);
    expect(run.exitCode).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      outcome: 'error',
      message: 'devcontainer up: Unknown argument: bogus',
    });
    expect(run.stderr).toContain('Unknown argument: bogus');
  });

  it('names the value and the choices for a bad up --relay-path, in one JSON line', async () => {
    const run = await runCli(stateDir, ['up', '--relay-path', 'fast']);
    expect(run.exitCode).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '') as { message: string; code: string };
    expect(line.code).toBe('USAGE');
    expect(line.message).toContain("'fast'");
    expect(line.message).toContain('auto, direct, netns, agent, mux, exec');
  });

  it('in exec, takes the command without -- and hands it to the Dev Containers CLI', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'portpilot-no-config-'));
    try {
      const run = await runCli(stateDir, ['exec', '--workspace-folder', folder, 'ls', '-la']);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        `Dev container config (${folder}/.devcontainer/devcontainer.json) not found`,
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
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
