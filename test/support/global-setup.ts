import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { removeThisRunsTestContainers } from './containers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TEST_ENV_SCRIPT = 'scripts/test-env.sh';

/** Vitest globalSetup of the integration project: makes the Docker engine and test images ready. */
export default async function setup(): Promise<() => Promise<void>> {
  // One id for the whole run, shared with the test workers through the environment, so that the
  // teardown removes this run's containers and no other run's on a shared engine.
  process.env.PORTPILOT_TEST_RUN_ID ??= `${process.pid}-${Date.now().toString(36)}`;
  const result = await execa('bash', [TEST_ENV_SCRIPT], {
    cwd: REPO_ROOT,
    stdin: 'ignore',
    stdout: 'inherit',
    stderr: 'inherit',
    reject: false,
  });
  if (result.exitCode !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    throw new Error(
      `${TEST_ENV_SCRIPT} ${why}, so the integration tests cannot run: its messages are above; ` +
        `run 'bash ${TEST_ENV_SCRIPT}' as root to reproduce`,
    );
  }
  return async () => {
    await removeThisRunsTestContainers();
  };
}
