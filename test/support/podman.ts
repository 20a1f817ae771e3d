import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { TEST_CONTAINER_LABEL, TEST_RUN_ID, TEST_RUN_LABEL_KEY } from './containers.js';

/** The rootful Podman CLI, as an engine argv (see rootlessPodman for a user's). */
export const ROOTFUL_PODMAN: readonly string[] = ['podman'];

const KEEP_ALIVE_SCRIPT = 'trap "exit 0" TERM; while sleep 1 & wait $!; do :; done';

/** Runs `ENGINE… ARGS…` (from '/', which any user may enter); rejects with its stderr; resolves to stdout. */
export async function podmanText(engine: readonly string[], args: readonly string[]): Promise<string> {
  const [file = 'podman', ...prefix] = engine;
  const result = await execa(file, [...prefix, ...args], { reject: false, cwd: '/' });
  if (result.exitCode !== 0)
    throw new Error(`${engine.join(' ')} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * Starts a detached, labelled container of a test image (`localhost/TAG`, loaded by test-env.sh)
 * whose PID 1 idles until SIGTERM; resolves to its full id.
 */
export async function startPodmanContainer(engine: readonly string[], image: string): Promise<string> {
  const id = await podmanText(engine, [
    'run',
    '--detach',
    '--name',
    `portpilot-test-${TEST_RUN_ID}-podman-${randomBytes(3).toString('hex')}`,
    '--label',
    TEST_CONTAINER_LABEL,
    '--label',
    `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`,
    // Debian's Podman cannot apply its default limits here ("error setting rlimit type 7").
    '--ulimit',
    'nofile=20000:20000',
    '--ulimit',
    'nproc=4096:4096',
    `localhost/${image}`,
    'sh',
    '-c',
    KEEP_ALIVE_SCRIPT,
  ]);
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`podman run ${image} printed "${id}", not a container id`);
  return id;
}

/** Force-removes a Podman container; a missing one is not an error. */
export async function removePodmanContainer(engine: readonly string[], id: string): Promise<void> {
  const [file = 'podman', ...prefix] = engine;
  await execa(file, [...prefix, 'rm', '--force', '--time', '0', id], { reject: false, cwd: '/' });
}
