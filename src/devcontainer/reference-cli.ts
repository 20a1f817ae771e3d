import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../common/errors.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import { REAL_DOCKER_ENV } from './docker-shim.js';
import { explainReferenceFailure, type ReferenceResult } from './explain-failure.js';

export type { ReferenceResult };

/** The package of the Dev Containers reference CLI portpilot runs (a dependency, pinned). */
export const REFERENCE_PACKAGE = '@devcontainers/cli';

/** The reference CLI's entry script, from portpilot's own dependencies (never a global install). */
export function referenceCliPath(): string {
  const manifest = createRequire(import.meta.url).resolve(`${REFERENCE_PACKAGE}/package.json`);
  return path.join(path.dirname(manifest), 'devcontainer.js');
}

/** The docker CLI portpilot hands the reference CLI: bin/portpilot-docker.js (see docker-shim.ts). */
export function dockerShimPath(): string {
  return fileURLToPath(new URL('../../bin/portpilot-docker.js', import.meta.url));
}

/**
 * The node arguments that run the reference CLI's `subcommand` with `args`: docker through the shim,
 * and spawn-hook loaded first, so that no configuration value reaches a process's argv.
 */
export function referenceCommand(subcommand: string, args: readonly string[]): string[] {
  const hook = new URL('./spawn-hook.js', import.meta.url).href;
  // Ours first: after exec's command, an option would be the command's.
  return ['--import', hook, referenceCliPath(), subcommand, '--docker-path', dockerShimPath(), ...args];
}

/** The environment the reference CLI runs with: ours, plus the docker CLI the shim runs. */
export function referenceEnv(
  env: Readonly<Record<string, string | undefined>>,
  dockerPath: string,
): NodeJS.ProcessEnv {
  return { ...env, [REAL_DOCKER_ENV]: dockerPath };
}

/** Thrown when the reference CLI fails: its own result object, kept for up's JSON line. */
export class ReferenceCliError extends RuntimeError {
  override name = 'ReferenceCliError';
  readonly result: ReferenceResult;
  constructor(subcommand: string, result: ReferenceResult) {
    const message = typeof result.message === 'string' ? result.message : `devcontainer ${subcommand} failed`;
    const description = typeof result.description === 'string' ? result.description : undefined;
    super(message, { description });
    this.result = result;
  }
}

/** Pure: the last line of the reference CLI's stdout that is a JSON object, or null. */
export function parseReferenceResult(stdout: string): ReferenceResult | null {
  const lines = stdout.split('\n').filter((line) => line.trim().startsWith('{'));
  for (const line of lines.reverse()) {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        return value as ReferenceResult;
    } catch {
      // not the result line: a log line that happens to start with a brace
    }
  }
  return null;
}

/**
 * Runs the reference CLI's `subcommand` to completion, its progress streamed to our stderr; resolves
 * with its result object when its outcome is success, and throws ReferenceCliError (its own error
 * result) otherwise.
 */
export async function runReference(
  runner: ProcessRunner,
  subcommand: string,
  args: readonly string[],
  options: { dockerPath: string; env: Readonly<Record<string, string | undefined>> },
): Promise<ReferenceResult> {
  const run = await runner.run(process.execPath, referenceCommand(subcommand, args), {
    env: referenceEnv(options.env, options.dockerPath),
    inheritStderr: true,
  });
  const result = parseReferenceResult(run.stdout);
  if (run.exitCode === 0 && result !== null && (result.outcome ?? 'success') === 'success') return result;
  throw new ReferenceCliError(
    subcommand,
    explainReferenceFailure(
      result ?? {
        outcome: 'error',
        message: `devcontainer ${subcommand}: ${lastLine(run.stderr) || `exit code ${run.exitCode} and no result`}`,
        description: `Its log above (on stderr) says why; 'portpilot ${subcommand} --help' lists portpilot's own flags.`,
      },
      run.stderr,
    ),
  );
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .pop() ?? ''
  );
}
