import { spawn } from 'node:child_process';
import { RuntimeError } from '../common/errors.js';
import { exitCodeOf } from '../common/exit-code.js';

/**
 * Runs a program on this process's own stdin, stdout and stderr (with `env` its whole environment,
 * else ours); resolves with its exit code.
 */
export type AttachedRunner = (
  file: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
) => Promise<number>;

// Forwarded to the child. SIGINT is not: a terminal sends it to the child's process group itself.
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

/** The local AttachedRunner: the child inherits our stdio, so terminals, EOF and binary data pass as they are. */
export const runAttached: AttachedRunner = (file, args, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: 'inherit', env: env ?? process.env });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    const ignoreInterrupt = () => undefined;
    process.on('SIGINT', ignoreInterrupt);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const cleanUp = () => {
      process.off('SIGINT', ignoreInterrupt);
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };
    child.once('error', (error) => {
      cleanUp();
      reject(
        new RuntimeError(`cannot run '${file}': ${error.message}`, {
          cause: error,
          description: 'Install Docker, or name a docker-compatible CLI with --docker-path.',
        }),
      );
    });
    child.once('exit', (code, signal) => {
      cleanUp();
      resolve(exitCodeOf(code, signal));
    });
  });
