import { execa } from 'execa';
import { asUserArgv, benchUser, type BenchUser } from '../setup/user.js';

/**
 * The user whose rootless Podman the section drives, or why it cannot run here. The bench is not a
 * test: when it cannot, the section is skipped with the reason and the rest of the run goes on.
 */
export async function rootlessUserOrWhy(name: string): Promise<BenchUser | string> {
  const podman = await execa('sh', ['-c', 'command -v podman'], { reject: false });
  if (podman.exitCode !== 0) return 'podman is not installed (scripts/test-env.sh installs it)';
  const user = await benchUser(name).catch((error: unknown) =>
    error instanceof Error ? error.message : String(error),
  );
  if (typeof user === 'string') return `${user} (set PORTPILOT_ROOTLESS_USER to use another)`;
  const [file = 'runuser', ...args] = asUserArgv(user, [
    'podman',
    'info',
    '--format',
    '{{.Host.Security.Rootless}}',
  ]);
  const info = await execa(file, args, { reject: false, timeout: 60_000, cwd: '/' });
  if (info.exitCode !== 0 || info.stdout.trim() !== 'true')
    return `rootless Podman does not run as ${name}: ${info.stderr.trim() || info.stdout.trim()}`;
  return user;
}
