import type { Command } from 'commander';
import { UsageError } from '../common/errors.js';
import { errorResult, printJson } from './command-context.js';

/** What a command's usage errors say after commander's own line, and what else they print. */
export interface UsageErrorHandling {
  /** The line after the error (default: "Run 'portpilot NAME --help' for its options."). */
  hint?: string;
  /** Also print `up`'s `{"outcome":"error"}` line on stdout, so a script reading it gets one. */
  jsonResult?: boolean;
}

/**
 * Makes a subcommand's command-line errors (an unknown option, a missing value, a stray argument)
 * say how to get it right. Commander prints `error: …` on stderr and exits 1; this adds the hint
 * after it and, for a command whose stdout is a JSON result, that result with code USAGE.
 */
export function explainUsageErrors(command: Command, handling: UsageErrorHandling = {}): Command {
  const hint = handling.hint ?? `Run 'portpilot ${command.name()} --help' for its options.`;
  return command.showHelpAfterError(hint).configureOutput({
    outputError(text, write) {
      write(text);
      if (handling.jsonResult) {
        printJson(errorResult(new UsageError(text.trim().replace(/^error: /, ''), { description: hint })));
      }
    },
  });
}
