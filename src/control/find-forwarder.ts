import { readdir, stat } from 'node:fs/promises';
import { readProcessArgv, readProcessStartTime } from '../common/process-info.js';
import type { StatePaths } from '../common/state-dir.js';
import { DAEMON_SUBCOMMAND } from './daemon-subcommand.js';
import { forwarderFiles } from './marker.js';

/** A live forwarder process, found by its command line. */
export interface ForwarderProcess {
  pid: number;
  /** Clock ticks since boot (/proc/PID/stat field 22), to signal this very process and no other. */
  startTime: number;
}

/**
 * The live forwarders of a container that were started for this state dir, found from /proc by their
 * exact command line (`__forward-daemon --container-id ID --spec-file <state dir>/forwarders/ID.spec.json`)
 * rather than through the marker: for when the marker is gone (the state dir was deleted) or damaged.
 * Only the caller's own processes count, and the spec path ties each to this state dir.
 */
export async function findForwarderProcesses(
  paths: StatePaths,
  containerId: string,
): Promise<ForwarderProcess[]> {
  const wanted = [
    DAEMON_SUBCOMMAND,
    '--container-id',
    containerId,
    '--spec-file',
    forwarderFiles(paths, containerId).spec,
  ];
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return [];
  }
  const found: ForwarderProcess[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const argv = await readProcessArgv(pid);
    // argv: node, its flags (DAEMON_NODE_FLAGS), bin/portpilot.js, then the daemon's own arguments.
    const own = argv?.slice(-wanted.length) ?? [];
    if (!argv || argv.length < wanted.length + 2 || !wanted.every((word, i) => own[i] === word)) continue;
    const owner = await stat(`/proc/${pid}`).catch(() => null);
    if (!owner || (uid !== undefined && owner.uid !== uid)) continue;
    const startTime = await readProcessStartTime(pid);
    if (startTime !== null) found.push({ pid, startTime });
  }
  return found;
}
