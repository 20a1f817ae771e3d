import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPathNamesContainer } from './container-process.js';

/** Where cgroup file systems are mounted on the host. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * The `cgroup.procs` files that may list every process of the container's cgroup, best first, from
 * the text of its init's /proc/<pid>/cgroup: the unified (v2) hierarchy, mounted at the root or at
 * `unified/` beside v1 controllers, then the v1 `pids` and `cpu` controllers. Only a cgroup whose
 * path names the container counts: a rootless container without a cgroup of its own sits in its
 * user's (or the root) cgroup, whose list is the host's processes. Pure: no I/O.
 */
export function cgroupProcsCandidates(procCgroup: string, containerId: string, root = CGROUP_ROOT): string[] {
  const candidates: string[] = [];
  const v1: string[] = [];
  for (const line of procCgroup.split('\n')) {
    // hierarchy-id:controller-list:path; the path may itself contain colons.
    const match = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (!match || !cgroupPathNamesContainer(line, containerId)) continue;
    const [, id, controllers, path] = match as unknown as [string, string, string, string];
    if (path.includes('..')) continue;
    if (id === '0' && controllers === '') {
      candidates.push(join(root, path, 'cgroup.procs'), join(root, 'unified', path, 'cgroup.procs'));
      continue;
    }
    for (const controller of controllers.split(',')) {
      if (controller === 'pids' || controller === 'cpu')
        v1.push(join(root, controller, path, 'cgroup.procs'));
    }
  }
  return [...candidates, ...v1];
}

/**
 * The `cgroup.procs` file that lists the processes of the container whose init is `pid`, found from
 * the host, or null where none is readable (another cgroup namespace, a remote engine, no cgroup of
 * its own). A candidate counts only if it names the container and lists `pid` itself, so a file of
 * some other cgroup is never watched by mistake.
 */
export function findContainerProcsFile(pid: number, containerId: string, root = CGROUP_ROOT): string | null {
  let procCgroup: string;
  try {
    procCgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return null;
  }
  for (const file of cgroupProcsCandidates(procCgroup, containerId, root)) {
    try {
      if (readFileSync(file, 'utf8').split('\n').includes(String(pid))) return file;
    } catch {
      // Not mounted here, or not readable: try the next.
    }
  }
  return null;
}
