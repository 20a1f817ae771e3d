import childProcess, { type ChildProcess, type SpawnOptions } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { dockerShimPath } from './reference-cli.js';
import { hideInValueFiles } from './value-files.js';

/**
 * Loaded into the reference CLI's own process (`node --import`), before it runs: its spawns of the
 * docker CLI (the shim it is given as `--docker-path`) get the `-e NAME=value` values and labels of
 * `docker run`/`docker exec` moved into private files (see hideValues) before any process exists, so
 * no process's argv ever holds them, not even for the moment a process takes to start.
 */
const SHIM = dockerShimPath();
const spawn = childProcess.spawn;
/** The value files of docker commands still running. */
const pending = new Set<() => void>();

function spawnWithoutValues(this: unknown, ...params: unknown[]): ChildProcess {
  const [command, args, options] = params as [unknown, unknown, SpawnOptions | undefined];
  if (command !== SHIM || !Array.isArray(args)) return Reflect.apply(spawn, this, params) as ChildProcess;
  const hidden = hideInValueFiles(args as string[], options?.env ?? process.env);
  pending.add(hidden.cleanUp);
  const child = spawn.call(this, SHIM, hidden.args, { ...options, env: hidden.env });
  const cleanUp = () => {
    pending.delete(hidden.cleanUp);
    hidden.cleanUp();
  };
  child.once('exit', cleanUp);
  child.once('error', cleanUp);
  return child;
}

childProcess.spawn = spawnWithoutValues as typeof childProcess.spawn;
syncBuiltinESMExports();
// A `docker run` that outlives the reference CLI has long read its files.
process.once('exit', () => {
  for (const cleanUp of pending) cleanUp();
});
