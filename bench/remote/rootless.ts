import { execa } from 'execa';
import type { RootlessResults } from './results.js';

/** The user rootless Podman runs as (made by scripts/test-env.sh when it sets rootless Podman up). */
export const ROOTLESS_USER = process.env.PORTPILOT_ROOTLESS_USER ?? 'portpilot-rootless';

/**
 * Whether rootless Podman can run here as the test user. The bench is not a test: when it cannot,
 * the section is skipped with the reason, and the rest of the run goes on.
 */
export async function rootlessSection(): Promise<RootlessResults> {
  const podman = await execa('sh', ['-c', 'command -v podman'], { reject: false });
  if (podman.exitCode !== 0) return { skipped: 'podman is not installed (scripts/test-env.sh installs it)' };
  const user = await execa('id', ['-u', ROOTLESS_USER], { reject: false });
  if (user.exitCode !== 0) {
    return {
      skipped: `no user ${ROOTLESS_USER} to run rootless Podman as (scripts/test-env.sh does not make one yet; set PORTPILOT_ROOTLESS_USER to use another)`,
    };
  }
  const info = await execa(
    'runuser',
    ['-u', ROOTLESS_USER, '--', 'podman', 'info', '--format', '{{.Host.Security.Rootless}}'],
    { reject: false, timeout: 60_000 },
  );
  if (info.exitCode !== 0 || info.stdout.trim() !== 'true') {
    return {
      skipped: `rootless Podman does not run as ${ROOTLESS_USER}: ${info.stderr.trim() || info.stdout.trim()}`,
    };
  }
  return {
    skipped: `rootless Podman runs here as ${ROOTLESS_USER}, but the bench has no rootless case yet (its containers, servers and forwarder through the user's Podman socket are still to be written)`,
  };
}
