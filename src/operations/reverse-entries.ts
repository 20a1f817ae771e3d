import type { Log } from '../common/log.js';
import type { StatePaths } from '../common/state-dir.js';
import { errorMessage } from '../common/errors.js';
import { readReversePaths, reversePathsFile, type ServedReverse } from '../control/reverse-paths.js';
import { isMarkerLive, listMarkedContainers, readMarker, type ForwarderMarker } from '../control/marker.js';
import { reverseEntry, type PublicPortEntry } from '../forwarding/port-entry.js';

/** Pure: a running forwarder's reverse port as `ports` lists it (see reverseEntry), with the path serving it. */
export function reverseEntryOf(marker: ForwarderMarker, port: ServedReverse): PublicPortEntry {
  const owner = {
    containerId: marker.containerId,
    containerName: marker.containerName,
    forwarderPid: marker.pid,
    since: marker.startedAt,
  };
  return { ...reverseEntry(owner, port), path: port.path };
}

/**
 * The reverse ports served by the live forwarders of the containers `wanted` accepts, as each
 * forwarder wrote them with the path serving them (a port no path can serve is not listed: its
 * `failed` event says why); a file that cannot be read is named to `warn`.
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
    try {
      for (const port of (await readReversePaths(paths, containerId)) ?? []) {
        entries.push(reverseEntryOf(marker, port));
      }
    } catch (error) {
      warn(`cannot read ${reversePathsFile(paths, containerId)}: ${errorMessage(error)}`);
    }
  }
  return entries;
}
