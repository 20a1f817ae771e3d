import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The built CLI, run as users run it. */
export const CLI = fileURLToPath(new URL('../../bin/portpilot.js', import.meta.url));

/** What one CLI run produced. */
export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A fresh, private state dir for one test file (two state dirs never see each other). */
export function makeStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'portpilot-test-state-'));
}

/** Runs `portpilot ARGS…` with the given state dir; never rejects on a non-zero exit. */
export async function runCli(
  stateDir: string,
  args: readonly string[],
  input?: string,
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun> {
  const result = await execa(process.execPath, [CLI, ...args], {
    reject: false,
    env: { ...env, PORTPILOT_STATE_DIR: stateDir },
    input,
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The one JSON line `up` prints. */
export interface UpLine {
  outcome: 'success' | 'error';
  containerId?: string;
  remoteWorkspaceFolder?: string;
  /** The reference CLI's fields: the user commands run as, and the Compose project it named. */
  remoteUser?: string;
  composeProjectName?: string;
  forwarder?: { pid: number; logFile: string };
  message?: string;
  description?: string;
}

/** Runs `up` (with `env` besides ours) and parses its stdout line. */
export async function runUp(
  stateDir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ run: CliRun; line: UpLine }> {
  const run = await runCli(stateDir, ['up', ...args], undefined, env);
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1)
    throw new Error(`up printed ${lines.length} lines on stdout:\n${run.stdout}\n${run.stderr}`);
  return { run, line: JSON.parse(lines[0] ?? '') as UpLine };
}

/** `ports --json`, parsed. */
export async function portsJson(stateDir: string, args: readonly string[] = []): Promise<PortRow[]> {
  const run = await runCli(stateDir, ['ports', '--json', ...args]);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as PortRow[];
}

/** A row of `ports --json`. */
export interface PortRow {
  containerId: string;
  containerName: string;
  service: string | null;
  containerPort: number;
  hostAddress: string;
  hostPort: number;
  protocol: string;
  origin: 'declared' | 'detected';
  allocation: 'same' | 'remapped-in-use' | 'remapped-privileged';
  label: string | null;
  process: string | null;
  forwarderPid: number;
  since: string;
  path: 'direct' | 'netns' | 'agent' | 'mux' | 'exec';
  direction: 'forward' | 'reverse';
}

/** True while a process with this pid exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
