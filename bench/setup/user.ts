import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { execa } from 'execa';

/** A user to run a rootless engine and the forwarders of its containers as (test/support/rootless.ts's). */
export interface BenchUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** XDG_RUNTIME_DIR: there is no login session here to make it; scripts/test-env.sh does. */
  runtimeDir: string;
}

/** The user from the passwd database; rejects naming the fix when there is none. */
export async function benchUser(name: string): Promise<BenchUser> {
  const line = await promisify(execFile)('getent', ['passwd', name]).then(
    (result) => result.stdout.trim(),
    () => '',
  );
  const [, , uid, gid, , home] = line.split(':');
  if (!uid || !gid || !home) throw new Error(`no user ${name}: run 'bash scripts/test-env.sh' as root`);
  return { name, uid: Number(uid), gid: Number(gid), home, runtimeDir: `/run/user/${uid}` };
}

/**
 * The argv that runs `argv` as the user (`runuser`, root only) in a clean environment with `env`
 * added; run it with `cwd: '/'`, which the user may enter.
 */
export function asUserArgv(
  user: BenchUser,
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
): string[] {
  const base = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: user.home, XDG_RUNTIME_DIR: user.runtimeDir };
  const pairs = Object.entries({ ...base, ...env }).map(([key, value]) => `${key}=${value}`);
  return ['runuser', '-u', user.name, '--', 'env', '-i', ...pairs, ...argv];
}

/** The user's `podman ARGS…`; rejects with its stderr; resolves to its stdout, trimmed. */
export async function podmanAs(
  user: BenchUser,
  args: readonly string[],
  input?: string | Buffer,
): Promise<string> {
  const [file = 'runuser', ...rest] = asUserArgv(user, ['podman', ...args]);
  const result = await execa(file, rest, {
    reject: false,
    cwd: '/',
    timeout: 120_000,
    ...(input === undefined ? {} : { input }),
  });
  if (result.exitCode !== 0)
    throw new Error(`podman ${args.join(' ')} as ${user.name} failed: ${result.stderr}`);
  return result.stdout.trim();
}
