import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCodeOf } from '../common/exit-code.js';
import type { Log } from '../common/log.js';
import { hideValues } from './docker-argv.js';

/** The variable that tells the shim which docker-compatible CLI to run. */
export const REAL_DOCKER_ENV = 'PORTPILOT_DOCKER_PATH';

/** Docker has read its env and label files well before this; they are removed then at the latest. */
const VALUE_FILES_KEEP_MS = 10_000;

/**
 * The `--docker-path` portpilot gives the reference CLI: runs the real docker CLI with the
 * environment values and labels of `run`/`exec` moved from argv into private files (see hideValues).
 * Its own argv, which the reference CLI wrote, is overwritten by its title as it starts. A docker
 * that cannot be started is reported to `report` (bin: stderr), and the shim exits 127.
 */
export function dockerShimMain(argv: readonly string[], report: Log): void {
  process.title = 'portpilot-docker';
  const folder = mkdtempSync(join(tmpdir(), 'portpilot-docker-'));
  const files = { envFile: join(folder, 'env'), labelFile: join(folder, 'labels') };
  const hidden = hideValues(argv, files);
  const cleanUp = () => rmSync(folder, { recursive: true, force: true });
  if (hidden.envFileText !== null) writeFileSync(files.envFile, hidden.envFileText, { mode: 0o600 });
  if (hidden.labelLines.length > 0)
    writeFileSync(files.labelFile, `${hidden.labelLines.join('\n')}\n`, { mode: 0o600 });
  const env = { ...process.env, ...hidden.envFromProcess };
  const docker = env[REAL_DOCKER_ENV] || 'docker';
  delete env[REAL_DOCKER_ENV];
  const child = spawn(docker, hidden.args, { stdio: 'inherit', env });
  const timer = setTimeout(cleanUp, VALUE_FILES_KEEP_MS);
  timer.unref();
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
