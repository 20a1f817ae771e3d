import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { downCommand } from './commands/down-command.js';
import { execCommand } from './commands/exec-command.js';
import { portsCommand } from './commands/ports-command.js';
import { upCommand } from './commands/up-command.js';
import { explainUsageErrors } from './usage-errors.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Builds the command tree. */
export function buildProgram(): Command {
  const program = new Command('portpilot')
    .description(
      'Forward every port a dev container listens on to 127.0.0.1 on this host, with a detached per-container forwarder.',
    )
    .version(VERSION)
    .option(
      '--state-dir <dir>',
      'where state and logs live (env PORTPILOT_STATE_DIR; default $XDG_STATE_HOME/portpilot)',
    )
    .enablePositionalOptions()
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExamples:\n  portpilot up --container-id my-dev --auto-forward\n  portpilot ports\n  portpilot down --container-id my-dev',
    );
  program.addCommand(explainUsageErrors(upCommand(), { jsonResult: true }));
  program.addCommand(explainUsageErrors(portsCommand()));
  program.addCommand(explainUsageErrors(downCommand()));
  program.addCommand(explainUsageErrors(execCommand()));
  return program;
}

/** The CLI entry point. */
export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
