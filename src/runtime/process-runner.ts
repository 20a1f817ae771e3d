import { spawn as spawnChild } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';

/** The outcome of a command run to completion. */
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Text written to the command's stdin, which is then closed. */
  input?: string;
  /** Kill the command after this long. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Stream the command's stderr to ours as it runs (progress), besides capturing it. */
  inheritStderr?: boolean;
}

/** A long-running child whose streams the caller drives. */
export interface RunningProcess {
  readonly pid: number | undefined;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves with the exit code (or 128+signal) once the process has exited. */
  readonly exited: Promise<number>;
  terminate(signal?: NodeJS.Signals): void;
}

/** How portpilot starts processes; passed in so that every layer above is runtime-agnostic. */
export interface ProcessRunner {
  /** Run to completion; never rejects for a non-zero exit (check exitCode), only if it cannot start. */
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Start a streaming process with piped stdin, stdout and stderr. */
  spawn(file: string, args: readonly string[]): RunningProcess;
}

const SIGNAL_EXIT_BASE = 128;

/** The plain, local implementation. */
export const localRunner: ProcessRunner = {
  async run(file, args, options = {}) {
    const result = await execa(file, args, {
      reject: false,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      timeout: options.timeoutMs,
      env: options.env,
      cwd: options.cwd,
      stderr: options.inheritStderr ? ['pipe', 'inherit'] : 'pipe',
      stripFinalNewline: false,
    });
    if (result.failed && result.exitCode === undefined && !result.timedOut && !result.isTerminated) {
      throw result;
    }
    const exitCode =
      result.exitCode ?? (result.signal ? SIGNAL_EXIT_BASE + 15 : result.timedOut ? SIGNAL_EXIT_BASE + 9 : 1);
    return { exitCode, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
  },

  spawn(file, args) {
    const child = spawnChild(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve(SIGNAL_EXIT_BASE - 1));
      child.once('exit', (code, signal) => resolve(code ?? (signal ? SIGNAL_EXIT_BASE + 1 : 1)));
    });
    return {
      pid: child.pid,
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      terminate(signal: NodeJS.Signals = 'SIGTERM') {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  },
};
