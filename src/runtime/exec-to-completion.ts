import { exitCodeOf } from '../common/exit-code.js';
import type { RunLimit, RunOptions, RunResult, RunningProcess } from './process-runner.js';

/**
 * A streaming exec (EngineApi.execStream) run to completion as the process runner runs `docker exec`:
 * `input` written and stdin closed (none: closed at once, as a process without `-i` sees it), both
 * streams collected, and the same bounds: past `timeoutMs`, or past `maxOutputBytes` of output, the
 * exec's connection is dropped (the command in the container sees its stdin end) and the result says
 * which bound, with the exit code of a killed `docker exec` client.
 */
export function execToCompletion(exec: RunningProcess, options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outputBytes = 0;
    let settled = false;
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
    const stopAt = (limit: RunLimit) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      exec.terminate('SIGKILL');
      resolve({ exitCode: exitCodeOf(null, 'SIGKILL'), stdout: text(stdout), stderr: text(stderr), limit });
    };
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => stopAt('time'), options.timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      if (settled) return;
      outputBytes += chunk.length;
      if (options.maxOutputBytes !== undefined && outputBytes > options.maxOutputBytes) stopAt('output');
      else into.push(chunk);
    };
    exec.stdout.on('data', collect(stdout));
    exec.stderr.on('data', collect(stderr));
    exec.stdin.on('error', () => undefined);
    exec.stdin.end(options.input ?? '');
    void exec.exited.then((exitCode) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ exitCode, stdout: text(stdout), stderr: text(stderr) });
    });
  });
}
