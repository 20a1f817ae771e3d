import { Option, type Command } from 'commander';
import { PortpilotError, errorMessage } from '../common/errors.js';
import { resolveStateDir } from '../common/state-dir.js';
import { chooseContainerCli, isOnPath } from '../runtime/container-cli.js';
import type { CommonOptions } from '../operations/forwarder-options.js';

/** The options every command shares, resolved from flags and environment. */
export function commonOptions(command: Command): CommonOptions {
  const opts = command.optsWithGlobals<{ stateDir?: string; dockerPath?: string }>();
  const cli = chooseContainerCli(opts.dockerPath, (name) => isOnPath(name));
  if (cli.notice !== null) progress(`portpilot: ${cli.notice}`);
  return { stateDir: resolveStateDir(opts.stateDir), dockerPath: cli.dockerPath };
}

/** `--docker-path`, which every command that reaches the engine takes. */
export const DOCKER_PATH_HELP =
  'the docker-compatible CLI to use (default: docker; podman when PATH has no docker)';

/**
 * `--state-dir`, which every command takes after its name as well: the program parses its own
 * options before the command name only, so that exec's command keeps its flags.
 */
export function stateDirOption(): Option {
  return new Option('--state-dir <dir>', 'where state and logs live (env PORTPILOT_STATE_DIR)').hideHelp();
}

/** Progress and human messages: stderr, so stdout stays machine-readable. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A warning for a person: stderr, marked as portpilot's. */
export function warn(message: string): void {
  process.stderr.write(`portpilot: warning: ${message}\n`);
}

/** The `{"outcome":"error"}` result line for any thrown value. */
export function errorResult(error: unknown): {
  outcome: 'error';
  message: string;
  description: string;
  code?: string;
} {
  if (error instanceof PortpilotError) {
    return {
      outcome: 'error',
      message: error.message,
      description: error.description ?? '',
      code: error.code,
    };
  }
  return { outcome: 'error', message: errorMessage(error), description: '' };
}

/** Prints a failure for humans on stderr and sets exit code 1. */
export function reportFailure(error: unknown): void {
  const result = errorResult(error);
  process.stderr.write(
    `portpilot: ${result.message}\n${result.description ? `${result.description}\n` : ''}`,
  );
  process.exitCode = 1;
}

/** Prints one JSON line on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
