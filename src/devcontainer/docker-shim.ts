import { spawn } from 'node:child_process';
import { exitCodeOf } from '../common/exit-code.js';
import type { Log } from '../common/log.js';
import { hideInValueFiles } from './value-files.js';

/** The variable that tells the shim which docker-compatible CLI to run. */
export const REAL_DOCKER_ENV = 'PORTPILOT_DOCKER_PATH';

/**
 * The `--docker-path` portpilot gives the reference CLI: runs the real docker CLI with the
 * environment values and labels of `run`/`exec` moved from argv into private files (see hideValues).
 * Its own argv, which the reference CLI wrote, is overwritten by its title as it starts. A docker
 * that cannot be started is reported to `report` (bin: stderr), and the shim exits 127.
 */
export function dockerShimMain(argv: readonly string[], report: Log): void {
  process.title = 'portpilot-docker';
  // Spawned through the hook in the reference CLI's process, the values are in files already; this
  // catches a spawn that went round it.
  const hidden = hideInValueFiles(argv, process.env);
  const cleanUp = hidden.cleanUp;
  const env = hidden.env;
  const docker = env[REAL_DOCKER_ENV] || 'docker';
  delete env[REAL_DOCKER_ENV];
  const child = spawn(docker, hidden.args, { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.once('error', (error) => {
    cleanUp();
    report(`cannot run ${docker}: ${error.message}`);
    process.exit(127);
  });
  child.once('exit', (code, signal) => {
    cleanUp();
    process.exit(exitCodeOf(code, signal));
  });
}
