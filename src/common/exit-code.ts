import { constants as osConstants } from 'node:os';

/** The exit code of a process killed by a signal: 128 plus the signal's number, as shells report it. */
export const SIGNAL_EXIT_BASE = 128;

/** Pure: a child's exit as a shell reports it: its code, or 128 + the number of the signal that ended it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null | undefined): number {
  if (code !== null) return code;
  if (!signal) return 1;
  return SIGNAL_EXIT_BASE + (osConstants.signals[signal] ?? osConstants.signals.SIGTERM);
}
