import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type { ProcessRunner } from '../runtime/process-runner.js';

/** How much of a streamed command's output is kept for an error message, in characters. */
export const OUTPUT_TAIL_CHARS = 4_000;

/** A command run with its output streamed: its exit code and the last of what it printed. */
export interface StreamedResult {
  exitCode: number;
  tail: string;
}

/**
 * Runs a command to completion, copying its stdout and stderr to `output` as they come (progress for
 * the user; never our stdout, which carries the result line). Its stdin is closed at once.
 */
export async function runStreamed(
  runner: ProcessRunner,
  file: string,
  args: readonly string[],
  output: Writable,
  env?: NodeJS.ProcessEnv,
): Promise<StreamedResult> {
  const child = runner.spawn(file, args, env === undefined ? undefined : { env });
  // A command that never reads stdin may be gone before the close: that EPIPE is no failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end();
  let tail = '';
  const copy = (stream: Readable) => {
    stream.on('data', (chunk: Buffer) => {
      output.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    });
    // The process may exit before its pipes are drained: wait for both ends, not only the exit.
    return finished(stream).catch(() => undefined);
  };
  const drained = Promise.all([copy(child.stdout), copy(child.stderr)]);
  const exitCode = await child.exited;
  await drained;
  return { exitCode, tail: tail.trim() };
}

/** The last `lines` lines of some output, for an error description. */
export function lastLines(text: string, lines = 10): string {
  return text.split('\n').slice(-lines).join('\n');
}
