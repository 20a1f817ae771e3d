import childProcess, { type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hideValues } from './docker-argv.js';
import { dockerShimPath } from './reference-cli.js';

/** Docker has read its env and label files well before this; they are removed then at the latest. */
const VALUE_FILES_KEEP_MS = 10_000;

/**
 * Loaded into the reference CLI's own process (`node --import`), before it runs: its spawns of the
 * docker CLI (the shim it is given as `--docker-path`) get the `-e NAME=value` values and labels of
 * `docker run`/`docker exec` moved into private files (see hideValues) before any process exists, so
 * no process's argv ever holds them, not even for the moment a process takes to start.
 */
const SHIM = dockerShimPath();
const spawn = childProcess.spawn;
const folders = new Set<string>();

function spawnWithoutValues(this: unknown, ...params: unknown[]): ChildProcess {
  const [command, args, options] = params as [unknown, unknown, SpawnOptions | undefined];
  if (command !== SHIM || !Array.isArray(args)) return Reflect.apply(spawn, this, params) as ChildProcess;
  const folder = mkdtempSync(join(tmpdir(), 'portpilot-docker-'));
  folders.add(folder);
  const files = { envFile: join(folder, 'env'), labelFile: join(folder, 'labels') };
  const hidden = hideValues(args as string[], files);
  if (hidden.envFileText !== null) writeFileSync(files.envFile, hidden.envFileText, { mode: 0o600 });
  if (hidden.labelLines.length > 0)
    writeFileSync(files.labelFile, `${hidden.labelLines.join('\n')}\n`, { mode: 0o600 });
  const env = { ...(options?.env ?? process.env), ...hidden.envFromProcess };
  const child = spawn.call(this, SHIM, hidden.args, { ...options, env });
  const cleanUp = () => {
    folders.delete(folder);
    rmSync(folder, { recursive: true, force: true });
  };
  child.once('exit', cleanUp);
  child.once('error', cleanUp);
  setTimeout(cleanUp, VALUE_FILES_KEEP_MS).unref();
  return child;
}

childProcess.spawn = spawnWithoutValues as typeof childProcess.spawn;
syncBuiltinESMExports();
// A `docker run` that outlives the reference CLI has long read its files.
process.once('exit', () => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});
