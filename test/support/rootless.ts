import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI, type CliRun, type UpLine } from './cli.js';
import { ROOTLESS_USER } from './images.js';

/**
 * The rootless test user, made by scripts/test-env.sh: subordinate uids and gids, a runtime dir of
 * its own, the busybox-nc and debian test images in its own Podman store.
 */
export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** XDG_RUNTIME_DIR: there is no login session here to make it, so test-env.sh does. */
  runtimeDir: string;
}

/** The rootless test user, looked up in the passwd database. */
export function rootlessUser(name = ROOTLESS_USER): RootlessUser {
  let line = '';
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    // Reported below.
  }
  const [, , uid, gid, , home] = line.split(':');
  if (!uid || !gid || !home) {
    throw new Error(`no user ${name}: run 'bash scripts/test-env.sh' as root, which creates it`);
  }
  return { name, uid: Number(uid), gid: Number(gid), home, runtimeDir: `/run/user/${uid}` };
}

/** The environment the user's rootless Podman needs, and nothing of ours besides `env`. */
export function rootlessEnv(user: RootlessUser, env: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: user.home,
    XDG_RUNTIME_DIR: user.runtimeDir,
    ...env,
  };
}

/**
 * The argv that runs `argv` as the user (`runuser`, root only), in a clean environment: the prefix
 * for `execa(file, args)` or for a helper that takes an engine argv (startTimedServer). Its working
 * directory must be one the user may enter: run it with `cwd: '/'`.
 */
export function asUserArgv(
  user: RootlessUser,
  argv: readonly string[],
  env: Record<string, string> = {},
): string[] {
  const pairs = Object.entries(rootlessEnv(user, env)).map(([key, value]) => `${key}=${value}`);
  return ['runuser', '-u', user.name, '--', 'env', '-i', ...pairs, ...argv];
}

/** Starts `argv` as the user; never rejects on a non-zero exit. */
export function runAsUser(
  user: RootlessUser,
  argv: readonly string[],
  options: { env?: Record<string, string>; input?: string | Uint8Array; timeoutMs?: number } = {},
): ResultPromise<{ reject: false; cwd: string; timeout: number }> {
  const [file = 'runuser', ...args] = asUserArgv(user, argv, options.env);
  return execa(file, args, {
    reject: false,
    cwd: '/',
    timeout: options.timeoutMs ?? 120_000,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
}

/** The user's rootless podman, as argv: `[...rootlessPodman(user), 'ps']`. */
export function rootlessPodman(user: RootlessUser): string[] {
  return asUserArgv(user, ['podman']);
}

/** Runs the user's `podman ARGS…`; rejects with its stderr on a non-zero exit; resolves to stdout. */
export async function podmanAsUser(user: RootlessUser, args: readonly string[]): Promise<string> {
  const result = await runAsUser(user, ['podman', ...args]);
  if (result.exitCode !== 0) {
    throw new Error(`podman ${args.join(' ')} as ${user.name} failed: ${String(result.stderr)}`);
  }
  return String(result.stdout).trim();
}

/** A fresh state dir the user owns, in the host's sticky /tmp (which the state dir checks allow). */
export function makeUserStateDir(user: RootlessUser): string {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-rootless-state-'));
  chownSync(dir, user.uid, user.gid);
  return dir;
}

/** Runs the built CLI as the user: `portpilot ARGS…` with that state dir. */
export async function runCliAsUser(
  user: RootlessUser,
  stateDir: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  const result = await runAsUser(user, [process.execPath, CLI, ...args], {
    env: { ...env, PORTPILOT_STATE_DIR: stateDir },
  });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** `up ARGS…` as the user, its one stdout line parsed. */
export async function runUpAsUser(
  user: RootlessUser,
  stateDir: string,
  args: readonly string[],
): Promise<{ run: CliRun; line: UpLine }> {
  const run = await runCliAsUser(user, stateDir, ['up', ...args]);
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1)
    throw new Error(`up printed ${lines.length} lines on stdout:\n${run.stdout}\n${run.stderr}`);
  return { run, line: JSON.parse(lines[0] ?? '') as UpLine };
}
