import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hideValues } from './docker-argv.js';

/** Docker has read its env and label files well before this; they are removed then at the latest. */
export const VALUE_FILES_KEEP_MS = 10_000;

/** A docker command line with its values moved into private files, and how to remove those files. */
export interface HiddenCommand {
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Removes the files; safe to call more than once. */
  cleanUp: () => void;
}

/**
 * Moves the `-e NAME=value` values and labels of a `docker run`/`docker exec` command line into 0600
 * files in a fresh private folder (see hideValues), before any process with that argv exists. The
 * files go when `cleanUp` runs, and after VALUE_FILES_KEEP_MS at the latest.
 */
export function hideInValueFiles(args: readonly string[], env: NodeJS.ProcessEnv): HiddenCommand {
  const folder = mkdtempSync(join(tmpdir(), 'portpilot-docker-'));
  const files = { envFile: join(folder, 'env'), labelFile: join(folder, 'labels') };
  const hidden = hideValues(args, files);
  if (hidden.envFileText !== null) writeFileSync(files.envFile, hidden.envFileText, { mode: 0o600 });
  if (hidden.labelLines.length > 0)
    writeFileSync(files.labelFile, `${hidden.labelLines.join('\n')}\n`, { mode: 0o600 });
  const cleanUp = () => rmSync(folder, { recursive: true, force: true });
  setTimeout(cleanUp, VALUE_FILES_KEEP_MS).unref();
  return { args: hidden.args, env: { ...env, ...hidden.envFromProcess }, cleanUp };
}
