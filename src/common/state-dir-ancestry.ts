import type { Stats } from 'node:fs';
import { lstat, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StateError } from './errors.js';

/** What the ancestry check looks at in one directory above the state dir. */
export interface AncestorFacts {
  uid: number;
  mode: number;
}

/**
 * Pure: why a directory above the state dir would let another user replace the state dir (rename
 * it away and put their own in its place), or null when it would not. Like ssh's StrictModes: it
 * must be owned by you or by root, and writable by no one else, unless it is sticky (as /tmp is:
 * there others cannot rename or remove what is yours).
 */
export function ancestorProblem(dir: AncestorFacts, uid: number): string | null {
  if (dir.uid !== uid && dir.uid !== 0) {
    return `is owned by uid ${dir.uid}, neither you (uid ${uid}) nor root`;
  }
  const writers = dir.mode & 0o002 ? 'everyone' : dir.mode & 0o020 ? 'its group' : null;
  if (writers !== null && (dir.mode & 0o1000) === 0) {
    return `is writable by ${writers} (mode ${(dir.mode & 0o7777).toString(8).padStart(4, '0')}) and not sticky`;
  }
  return null;
}

/** Pure: the directories above an absolute path, from the root down: `/a/b/c` gives `/`, `/a`, `/a/b`. */
export function ancestorsOf(path: string): string[] {
  const dirs: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dirname(dir) === dir) return dirs;
  }
}

/**
 * Refuses a state dir that another user could replace through a directory above it: every one from
 * the root down, along the path as given and along the real path its symlinks lead to. Directories
 * still missing are not looked at: portpilot creates them itself, private.
 */
export async function checkStateDirAncestry(root: string): Promise<void> {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  let deepest: string | null = null;
  for (const dir of ancestorsOf(root)) {
    const stats = await lstat(dir).catch(() => null);
    if (stats === null) break;
    deepest = dir;
    // Its parent, checked already, keeps others from changing the link; where it leads is checked below.
    if (!stats.isSymbolicLink()) refuseUnsafe(root, dir, stats, uid);
  }
  if (deepest === null) return;
  const real = await realpath(deepest);
  for (const dir of [...ancestorsOf(real), real]) refuseUnsafe(root, dir, await stat(dir), uid);
}

function refuseUnsafe(root: string, dir: string, stats: Stats, uid: number): void {
  const problem = ancestorProblem(stats, uid);
  if (problem === null) return;
  const fix =
    stats.uid !== uid && stats.uid !== 0
      ? `Choose a state dir under directories owned by you or root`
      : `Make ${dir} writable by its owner only (chmod go-w '${dir}') or sticky (chmod +t '${dir}'), or choose a state dir under directories only you or root can change`;
  throw new StateError(
    `the state dir ${root} is not safe: ${dir} above it ${problem}, so another user could replace it`,
    { description: `${fix}, with --state-dir or PORTPILOT_STATE_DIR.` },
  );
}
