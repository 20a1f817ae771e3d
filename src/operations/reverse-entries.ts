import { readFile } from 'node:fs/promises';
import type { Log } from '../common/log.js';
import type { StatePaths } from '../common/state-dir.js';
import { errorMessage } from '../common/errors.js';
import type { ReversePort } from '../config/reverse-ports.js';
import { parseDaemonSpec } from '../control/daemon-spec.js';
import {
  forwarderFiles,
  isMarkerLive,
  listMarkedContainers,
  readMarker,
  type ForwarderMarker,
} from '../control/marker.js';
import { reverseEntry, type PublicPortEntry } from '../forwarding/port-entry.js';

/** Pure: a running forwarder's reverse port as `ports` lists it (see reverseEntry). */
export function reverseEntryOf(marker: ForwarderMarker, port: ReversePort): PublicPortEntry {
  const owner = {
    containerId: marker.containerId,
    containerName: marker.containerName,
    forwarderPid: marker.pid,
    since: marker.startedAt,
  };
  return reverseEntry(owner, port);
}

/**
 * The reverse ports of the live forwarders of the containers `wanted` accepts, read from their specs
 * (written by `up`, removed when the forwarder ends); a spec that cannot be read is named to `warn`.
 */
export async function listReverseEntries(
  paths: StatePaths,
  wanted: (containerId: string) => boolean,
  warn: Log,
): Promise<PublicPortEntry[]> {
  const entries: PublicPortEntry[] = [];
  for (const containerId of await listMarkedContainers(paths)) {
    if (!wanted(containerId)) continue;
    const marker = await readMarker(paths, containerId);
    if (marker === null || !(await isMarkerLive(marker))) continue;
    const specFile = forwarderFiles(paths, containerId).spec;
    try {
      const spec = parseDaemonSpec(await readFile(specFile, 'utf8'), specFile);
      for (const port of spec.reversePorts ?? []) entries.push(reverseEntryOf(marker, port));
    } catch (error) {
      warn(`cannot read the reverse ports of ${specFile}: ${errorMessage(error)}`);
    }
  }
  return entries;
}
