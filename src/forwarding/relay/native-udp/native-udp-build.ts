import { createHash } from 'node:crypto';
import { chmod, lstat, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../../common/errors.js';
import type { Log } from '../../../common/log.js';
import { makeStateSubdir } from '../../../common/state-dir.js';
import type { ProcessRunner } from '../../../runtime/process-runner.js';

/** The native UDP relay's C files, next to this module (scripts/copy-programs.js copies them to dist/). */
const SOURCE_DIR = fileURLToPath(new URL('.', import.meta.url));
const COMPILED = ['udp-relay.c', 'sessions.c'];
const SOURCE_FILES = [...COMPILED, 'sessions.h'];

/** The relay's source as one text (each file's name and content): what a build is named by. */
export async function nativeUdpSource(): Promise<string> {
  const texts = await Promise.all(SOURCE_FILES.map((name) => readFile(join(SOURCE_DIR, name), 'utf8')));
  return SOURCE_FILES.map((name, i) => `${name}\0${texts[i] ?? ''}\0`).join('');
}
/** The compiler: `cc`, or `CC` from the environment. */
const DEFAULT_COMPILER = 'cc';
const COMPILE_TIMEOUT_MS = 60_000;
/** `PORTPILOT_UDP_RELAY=in-process` keeps every UDP forward in the forwarder's own process. */
export const IN_PROCESS_SETTING = 'in-process';

/**
 * Pure: the built program's file name, from its source: a new source never runs an old build, and
 * two versions of portpilot sharing a state dir keep a build each.
 */
export function builtProgramName(source: string): string {
  return `udp-relay-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`;
}

/** Pure: the compiler's arguments (warnings are errors: the tests build it the same way). */
export function compileArgs(sourcePaths: readonly string[], outputPath: string): string[] {
  return ['-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', outputPath, ...sourcePaths];
}

/** Where built programs are kept: `<state dir>/programs`, 0700 as the rest. */
export function programsDir(stateRoot: string): string {
  return join(stateRoot, 'programs');
}

/**
 * The native UDP relay program, built on first use into the state dir and found there after: its
 * path, or null where it cannot be had (no compiler, a failed build, or PORTPILOT_UDP_RELAY=in-process),
 * said once in the log; those forwards relay in-process. Asked again, it answers from memory.
 */
export function nativeUdpRelayProgram(
  stateRoot: string,
  runner: ProcessRunner,
  log: Log,
  env: NodeJS.ProcessEnv = process.env,
): () => Promise<string | null> {
  let found: Promise<string | null> | undefined;
  return () => (found ??= findOrBuild(stateRoot, runner, log, env));
}

async function findOrBuild(
  stateRoot: string,
  runner: ProcessRunner,
  log: Log,
  env: NodeJS.ProcessEnv,
): Promise<string | null> {
  if (env.PORTPILOT_UDP_RELAY === IN_PROCESS_SETTING) return null;
  const inProcess = 'UDP forwards relay in-process (slower round trips)';
  try {
    const dir = programsDir(stateRoot);
    const program = join(dir, builtProgramName(await nativeUdpSource()));
    if (await isOwnProgram(program)) return program;
    await makeStateSubdir(stateRoot, dir);
    const building = `${program}.${process.pid}.building`;
    const compiler = env.CC || DEFAULT_COMPILER;
    let result;
    try {
      const sources = COMPILED.map((name) => join(SOURCE_DIR, name));
      result = await runner.run(compiler, compileArgs(sources, building), {
        timeoutMs: COMPILE_TIMEOUT_MS,
      });
    } catch (error) {
      log(`no C compiler (${compiler}) to build the native UDP relay: ${inProcess}`, {
        error: errorMessage(error),
      });
      return null;
    }
    if (result.exitCode !== 0) {
      await rm(building, { force: true });
      log(`the native UDP relay did not build: ${inProcess}`, {
        compiler,
        exitCode: result.exitCode,
        stderr: result.stderr.slice(0, 2_000),
      });
      return null;
    }
    await chmod(building, 0o700);
    // Atomic: a forwarder building at the same time finds a whole program or none.
    await rename(building, program);
    log('built the native UDP relay', { program });
    return program;
  } catch (error) {
    log(`the native UDP relay could not be had: ${inProcess}`, { error: errorMessage(error) });
    return null;
  }
}

/** A regular file of ours that nobody else may write: a program this user built (not a planted one). */
async function isOwnProgram(path: string): Promise<boolean> {
  const stats = await lstat(path).catch(() => null);
  return stats !== null && stats.isFile() && stats.uid === process.getuid?.() && (stats.mode & 0o022) === 0;
}
