import type { Command } from 'commander';
import type { ErrorCode } from '../common/errors.js';
import { printJson } from './command-context.js';

/** What a command's usage errors say after commander's own line, and what else they print. */
export interface UsageErrorHandling {
  /** The line after the error: where to look, or the usual fix. */
  hint: string;
  /** Also print `up`'s `{"outcome":"error"}` line on stdout, so a script reading it gets one. */
  jsonResult?: boolean;
}

/**
 * Makes a subcommand's command-line errors (an unknown option, a missing value, a stray argument)
 * say how to get it right. Commander prints `error: …` on stderr and exits 1; this adds the hint
 * after it and, for a command whose stdout is a JSON result, that result with code USAGE.
 */
export function explainUsageErrors(command: Command, handling: UsageErrorHandling): Command {
  return command.showHelpAfterError(handling.hint).configureOutput({
    outputError(text, write) {
      write(text);
      if (handling.jsonResult) {
        printJson({
          outcome: 'error',
          message: text.trim().replace(/^error: /, ''),
          description: handling.hint,
          code: 'USAGE' satisfies ErrorCode,
        });
      }
    },
  });
}
