import { spawn as spawnChild } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { exitCodeOf, SIGNAL_EXIT_BASE } from '../common/exit-code.js';

/** The outcome of a command run to completion. */
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when the runner stopped the command at a bound of RunOptions: out of time, or too much output. */
  limit?: RunLimit;
}

/** Which bound stopped a command: `timeoutMs` (time) or `maxOutputBytes` (output). */
export type RunLimit = 'time' | 'output';

export interface RunOptions {
  /** Text written to the command's stdin, which is then closed. */
  input?: string;
  /** Kill the command after this long. */
  timeoutMs?: number;
  /** Kill the command once its output passes this many bytes (the CLI's runner counts each stream). */
  maxOutputBytes?: number;
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
  /** Start a streaming process with piped stdin, stdout and stderr (`env`: its whole environment). */
  spawn(file: string, args: readonly string[], options?: { env?: NodeJS.ProcessEnv }): RunningProcess;
}

/** Starts a child with piped stdio: the streaming half every runner shares. */
function spawnPiped(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): RunningProcess {
  const child = spawnChild(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env });
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(SIGNAL_EXIT_BASE - 1));
    child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
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
}

/** The CLI's runner, on execa (loaded on first use, so that commands that never run one do not pay). */
export const localRunner: ProcessRunner = {
  async run(file, args, options = {}) {
    const { execa } = await import('execa');
    const result = await execa(file, args, {
      reject: false,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      timeout: options.timeoutMs,
      maxBuffer: options.maxOutputBytes,
      env: options.env,
      cwd: options.cwd,
      stderr: options.inheritStderr ? ['pipe', 'inherit'] : 'pipe',
      stripFinalNewline: false,
    });
    const limit: RunLimit | undefined = result.timedOut ? 'time' : result.isMaxBuffer ? 'output' : undefined;
    if (result.failed && result.exitCode === undefined && limit === undefined && !result.isTerminated) {
      throw result;
    }
    const exitCode = exitCodeOf(
      result.exitCode ?? null,
      result.signal ?? (result.timedOut ? 'SIGKILL' : undefined),
    );
    const output = { exitCode, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
    return limit === undefined ? output : { ...output, limit };
  },
  spawn: spawnPiped,
};

/**
 * The forwarder's runner, on node:child_process alone. The forwarder lives for days and its memory
 * budget is tight; execa's loaded code alone would be about a quarter of it. It runs only short
 * `docker inspect` / `docker exec` commands, bounded where their output comes from the container.
 */
export const daemonRunner: ProcessRunner = {
  run(file, args, options = {}) {
    return new Promise((resolve, reject) => {
      const child = spawnChild(file, [...args], {
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: options.env ?? process.env,
        cwd: options.cwd,
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let outputBytes = 0;
      let limit: RunLimit | undefined;
      // SIGKILL: a bound is only one if the command cannot ignore it. Killing a `docker` client leaves
      // the process it started in the container running either way. Its streams are closed too: a
      // grandchild (the `ssh` of an ssh:// engine) may still hold them open after the client died.
      const stopAt = (reached: RunLimit) => {
        if (limit !== undefined) return;
        limit = reached;
        child.kill('SIGKILL');
        child.stdout?.destroy();
        child.stderr?.destroy();
      };
      const timer =
        options.timeoutMs === undefined ? undefined : setTimeout(() => stopAt('time'), options.timeoutMs);
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        if (limit !== undefined) return;
        outputBytes += chunk.length;
        if (options.maxOutputBytes !== undefined && outputBytes > options.maxOutputBytes) stopAt('output');
        else into.push(chunk);
      };
      child.stdout?.on('data', collect(stdout));
      child.stderr?.on('data', collect(stderr));
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const result = {
          exitCode: exitCodeOf(code, signal),
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        };
        resolve(limit === undefined ? result : { ...result, limit });
      });
      // EPIPE when the command exits (or is killed) before reading its input: the exit says it all.
      child.stdin?.on('error', () => {});
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  },
  spawn: spawnPiped,
};

/**
 * Ends a long-lived exec whose program exits when its stdin ends (the relay agent, the mux agent):
 * stdin closed first, then SIGTERM and SIGKILL for a program (or engine) that hangs, each after
 * `graceMs`. Resolves once it has exited.
 */
export async function endStdinThenSignal(exec: RunningProcess, graceMs: number): Promise<void> {
  exec.stdin.end();
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    if (await exitsWithin(exec, graceMs)) return;
    exec.terminate(signal);
  }
  await exec.exited;
}

function exitsWithin(exec: RunningProcess, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void exec.exited.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
