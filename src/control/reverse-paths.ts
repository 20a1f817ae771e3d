import { lstat, readFile, rm } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { isValidPort } from '../forwarding/host/host-port.js';
import type { RelayPath } from '../forwarding/port-entry.js';
import { refuseLinkedStateFile, stateWriteError, type StatePaths } from '../common/state-dir.js';
import { forwarderFiles } from './marker.js';

/** One reverse port a running forwarder serves, and the path that serves it (`ports` lists it so). */
export interface ServedReverse {
  hostPort: number;
  containerPort: number;
  path: Extract<RelayPath, 'netns' | 'mux'>;
}

/** A few hundred bytes a port; a bigger file is damage and is not read. */
const MAX_BYTES = 256 * 1024;

/** Where a container's forwarder says which path serves each of its reverse ports. */
export function reversePathsFile(paths: StatePaths, containerId: string): string {
  return forwarderFiles(paths, containerId).reverse;
}

/** Pure: the served reverse ports in a file's text; null when it is not such a file. */
export function parseReversePaths(raw: string): ServedReverse[] | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  const served = value.filter(
    (item): item is ServedReverse =>
      typeof item === 'object' &&
      item !== null &&
      isValidPort((item as ServedReverse).hostPort) &&
      isValidPort((item as ServedReverse).containerPort) &&
      ((item as ServedReverse).path === 'netns' || (item as ServedReverse).path === 'mux'),
  );
  return served.length === value.length ? served : null;
}

/** Writes the forwarder's served reverse ports atomically, mode 0600 (a planted symlink is refused). */
export async function writeReversePaths(
  paths: StatePaths,
  containerId: string,
  served: readonly ServedReverse[],
): Promise<void> {
  const file = reversePathsFile(paths, containerId);
  await refuseLinkedStateFile(file, 'reverse ports file');
  await writeFileAtomic(file, JSON.stringify(served) + '\n', { mode: 0o600 }).catch((error: unknown) => {
    throw stateWriteError(paths.root, `write the reverse ports file ${file}`, error);
  });
}

/** The forwarder's served reverse ports; null when it wrote none or the file is damaged. */
export async function readReversePaths(
  paths: StatePaths,
  containerId: string,
): Promise<ServedReverse[] | null> {
  const file = reversePathsFile(paths, containerId);
  await refuseLinkedStateFile(file, 'reverse ports file');
  try {
    if ((await lstat(file)).size > MAX_BYTES) return null;
    return parseReversePaths(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Removes the file (the forwarder is ending). */
export async function removeReversePaths(paths: StatePaths, containerId: string): Promise<void> {
  await rm(reversePathsFile(paths, containerId), { force: true });
}
