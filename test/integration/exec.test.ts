import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStateDir, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { TEST_CONTAINER_LABEL, TEST_RUN_ID, TEST_RUN_LABEL_KEY } from '../support/containers.js';
import { DEBIAN_IMAGE } from '../support/images.js';
import { commandLinesDuring } from '../support/proc-scan.js';

const stateDir = makeStateDir();
const scope = containerScope();
const folder = mkdtempSync(path.join(tmpdir(), 'portpilot-ws-exec-'));
let containerId = '';
/** A containerEnv value no command line may show: `ps` shows command lines to every local user. */
const SECRET = `secret-${randomBytes(12).toString('hex')}`;
/** A value an env file cannot hold (a line break), and the command lines must not show either. */
const SECRET_LINES = `first ${SECRET}\nsecond line`;
/** Every command line seen while `up` created the container and ran its postCreateCommand. */
let upCommandLines = new Set<string>();

beforeAll(async () => {
  mkdirSync(path.join(folder, '.devcontainer'));
  const config = {
    image: DEBIAN_IMAGE,
    runArgs: ['--label', TEST_CONTAINER_LABEL, '--label', `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`],
    containerEnv: { EXEC_TEST: 'from containerEnv', EXEC_SECRET: SECRET, EXEC_SECRET_LINES: SECRET_LINES },
    postCreateCommand: 'sleep 1',
  };
  writeFileSync(path.join(folder, '.devcontainer', 'devcontainer.json'), JSON.stringify(config));
  const scanned = await commandLinesDuring(runUp(stateDir, ['--workspace-folder', folder]));
  upCommandLines = scanned.seen;
  const { run, line } = scanned.result;
  if (line.outcome !== 'success' || !line.containerId)
    throw new Error(`up failed: ${run.stdout}\n${run.stderr}`);
  containerId = line.containerId;
});

afterAll(async () => {
  await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
  rmSync(folder, { recursive: true, force: true });
});

describe('exec', () => {
  it("passes the command's exit code through", async () => {
    const run = await runCli(stateDir, ['exec', '--workspace-folder', folder, '--', 'sh', '-c', 'exit 42']);
    expect(run.exitCode).toBe(42);
    expect(run.stdout).toBe('');
  });

  it('passes stdin to the command and its stdout and stderr back, unchanged', async () => {
    // No final newline: runCli drops one from stdout, and this must come back byte for byte.
    const input = 'line one\n\nline three with  spaces\t\u00e9\u00e8 unicode';
    const run = await runCli(
      stateDir,
      ['exec', '--workspace-folder', folder, '--', 'sh', '-c', 'cat; echo to-stderr >&2'],
      input,
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(input);
    expect(run.stderr).toContain('to-stderr');
  });

  it('runs in workspaceFolder with containerEnv for a workspace', async () => {
    const run = await runCli(stateDir, [
      'exec',
      '--workspace-folder',
      folder,
      '--',
      'sh',
      '-c',
      'pwd; echo "$EXEC_TEST"',
    ]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(`/workspaces/${path.basename(folder)}\nfrom containerEnv`);
  });

  it('never shows a containerEnv value on a command line, yet the command sees it', async () => {
    const { result, seen } = await commandLinesDuring(
      runCli(stateDir, ['exec', '--workspace-folder', folder, '--', 'sleep', '3']),
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = [...seen];
    // The scan saw the docker CLI running the command, and the container's creation and lifecycle.
    expect(lines.some((l) => l.includes(` exec `) && l.includes(containerId) && l.endsWith('sleep 3'))).toBe(
      true,
    );
    expect([...upCommandLines].some((l) => / run /.test(l))).toBe(true);
    expect([...upCommandLines].some((l) => / exec .*sleep 1/s.test(l))).toBe(true);
    for (const line of [...lines, ...upCommandLines]) expect(line).not.toContain(SECRET);

    const printed = await runCli(stateDir, [
      'exec',
      '--workspace-folder',
      folder,
      '--',
      'sh',
      '-c',
      'printenv EXEC_SECRET; printenv EXEC_SECRET_LINES',
    ]);
    expect(printed.exitCode, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(`${SECRET}\n${SECRET_LINES}`);
  });

  it('runs in a container named by --container-id, arguments kept as they are', async () => {
    const run = await runCli(stateDir, [
      'exec',
      '--container-id',
      containerId,
      '--',
      'printf',
      '%s|',
      '-w',
      'two words',
      '$HOME',
    ]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('-w|two words|$HOME|');
  });

  it("runs in the workspace's folder too when --container-id names a workspace's container", async () => {
    const run = await runCli(stateDir, [
      'exec',
      '--container-id',
      containerId,
      '--',
      'sh',
      '-c',
      'pwd; echo "$EXEC_TEST"',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe(`/workspaces/${path.basename(folder)}\nfrom containerEnv`);
  });

  it("runs as the reference CLI's exec does in a container with no workspace labels: in the user's home", async () => {
    const plain = await scope.start(DEBIAN_IMAGE);
    const run = await runCli(stateDir, ['exec', '--container-id', plain.id, '--', 'pwd']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('/root');
  });

  it('fails with exit code 1 and a message on stderr for an unknown container', async () => {
    const run = await runCli(stateDir, [
      'exec',
      '--container-id',
      'portpilot-no-such-container',
      '--',
      'true',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("no container 'portpilot-no-such-container'");
  });
});
