import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, readlink } from 'node:fs/promises';
import type { Docker } from '../../runtime/docker.js';
import { loadProgram } from '../container-programs/program-text.js';

/** Longest command line reported, in UTF-16 code units; a longer one is cut and ends in '…'. */
export const MAX_COMMAND_LINE_CHARS = 512;
/** Enough bytes for MAX_COMMAND_LINE_CHARS of any UTF-8 text; a java classpath can run to megabytes. */
export const CMDLINE_READ_MAX_BYTES = 4096;
const OWNERS_PROBE_TIMEOUT_MS = 15_000;
// Links read at once: enough to overlap the thread pool's syscalls, few enough not to flood it.
const READLINK_BATCH_SIZE = 32;
// A container's cgroup subtree is a handful of directories; this only bounds a pathological one.
const MAX_CGROUP_DIRS = 256;
const CGROUP_ROOT = '/sys/fs/cgroup';
const PROBE_HEADER = 'PORTPILOT-SOCKET-OWNERS';
const SOCKET_LINK_RE = /^socket:\[([0-9]{1,20})\]$/;
const NUMERIC_NAME_RE = /^[1-9][0-9]{0,9}$/;

/** Finds the command line of the process that owns each listening socket, by socket inode. */
export interface SocketOwnerFinder {
  /** inode → command line for the inodes whose owner was found; never rejects (owners are best-effort). */
  find(inodes: ReadonlySet<number>): Promise<Map<number, string>>;
}

/** Pure: the socket inode a /proc/PID/fd link target names ("socket:[12345]" → 12345), else null. */
export function socketInodeOfLink(target: string): number | null {
  const match = SOCKET_LINK_RE.exec(target);
  const inode = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(inode) ? inode : null;
}

/** Pure: a /proc/PID/cmdline's NUL-separated bytes as one display line (args joined by spaces, trailing NUL dropped, capped at 512 chars). */
export function commandLineOf(raw: string): string {
  let end = raw.length;
  // setproctitle() users (nginx, postgres) may leave a run of NULs after the title.
  while (end > 0 && raw.charCodeAt(end - 1) === 0) end--;
  const line = raw.slice(0, Math.min(end, MAX_COMMAND_LINE_CHARS + 1)).replaceAll('\0', ' ');
  if (end <= MAX_COMMAND_LINE_CHARS) return line;
  let cut = MAX_COMMAND_LINE_CHARS - 1;
  const last = line.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--; // never split a surrogate pair
  return `${line.slice(0, cut)}…`;
}

/**
 * The probe prints `PORTPILOT-SOCKET-OWNERS <nonce>`, then for each owner found `\n<nonce> <inode>\n`
 * followed by the raw bytes of its /proc/PID/cmdline, then `\n<nonce> end\n`. Raw bytes keep the
 * command line exact (arguments may hold newlines and tabs); the nonce, chosen per run, frames them.
 */
const OWNERS_PROBE_SCRIPT = loadProgram('probe-socket-owners.sh', { PROBE_HEADER, CMDLINE_READ_MAX_BYTES });

/** Pure: parses the output of the in-container exec probe (your own format) into inode → command line. */
export function parseOwnersProbe(output: string): Map<number, string> {
  const owners = new Map<number, string>();
  const header = new RegExp(`(?:^|\\n)${PROBE_HEADER} ([0-9a-f]{8,64})\\n`).exec(output);
  if (!header) return owners;
  const nonce = header[1];
  const records = output.slice(header.index + header[0].length).split(`\n${nonce} `);
  for (const record of records.slice(1)) {
    const newline = record.indexOf('\n');
    const label = newline < 0 ? record : record.slice(0, newline);
    if (label === 'end') break;
    if (!/^[0-9]{1,20}$/.test(label)) continue;
    const inode = Number(label);
    const line = commandLineOf(newline < 0 ? '' : record.slice(newline + 1));
    if (Number.isSafeInteger(inode) && line !== '' && !owners.has(inode)) owners.set(inode, line);
  }
  return owners;
}

/** Host view when possible (local engine, the init's fds readable): its cgroup, then its netns peers; else one docker exec. */
export async function createSocketOwnerFinder(
  docker: Docker,
  containerId: string,
  initPid: number,
  listenerSourceKind: 'host-proc' | 'exec',
): Promise<SocketOwnerFinder> {
  const probe = (inodes: ReadonlySet<number>) => probeOwners(docker, containerId, inodes);
  if (listenerSourceKind === 'host-proc' && initPid > 0 && (await canReadFds(initPid))) {
    return { find: (inodes) => findOnHost(initPid, inodes, probe) };
  }
  return { find: probe };
}

async function canReadFds(pid: number): Promise<boolean> {
  try {
    await readdir(`/proc/${pid}/fd`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The container's cgroup names its processes without a scan of the whole host. Owners outside it
 * (a container sharing this one's network, a nested cgroup layout not found) are then looked for among
 * every process in the init's network namespace. Processes whose fds the daemon may not read (they run
 * as another user) leave their sockets to the exec probe, which runs as the container's root; a process
 * left non-dumpable by a credential change (root exec'd into a non-root container) hides its fds from
 * that too, short of CAP_SYS_PTRACE, and stays without an owner.
 */
async function findOnHost(
  initPid: number,
  inodes: ReadonlySet<number>,
  probe: (inodes: ReadonlySet<number>) => Promise<Map<number, string>>,
): Promise<Map<number, string>> {
  const scan: OwnerScan = {
    wanted: inodes,
    owners: new Map(),
    resolved: new Set(),
    scanned: new Set(),
    denied: false,
  };
  if (inodes.size === 0) return scan.owners;
  await scanPids(scan, (await listCgroupPids(initPid)) ?? []);
  if (scan.resolved.size < inodes.size) await scanPids(scan, await listNetnsPids(initPid));
  if (scan.resolved.size < inodes.size && scan.denied) {
    const rest = new Set([...inodes].filter((inode) => !scan.resolved.has(inode)));
    for (const [inode, line] of await probe(rest)) scan.owners.set(inode, line);
  }
  return scan.owners;
}

interface OwnerScan {
  readonly wanted: ReadonlySet<number>;
  readonly owners: Map<number, string>;
  /** Inodes whose owner was found, even when its command line was empty. */
  readonly resolved: Set<number>;
  readonly scanned: Set<number>;
  /** Some process that was looked at would not show its fds. */
  denied: boolean;
}

// Lowest pid first, so a socket shared after fork() is credited to the parent the user started.
async function scanPids(scan: OwnerScan, pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    if (scan.resolved.size >= scan.wanted.size) return;
    if (scan.scanned.has(pid)) continue;
    scan.scanned.add(pid);
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') scan.denied = true;
      continue;
    }
    const targets = await mapInBatches(fds, (fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
    const found = targets
      .map(socketInodeOfLink)
      .filter(
        (inode): inode is number => inode !== null && scan.wanted.has(inode) && !scan.resolved.has(inode),
      );
    if (found.length === 0) continue;
    const line = await readCommandLine(pid);
    for (const inode of found) {
      scan.resolved.add(inode);
      if (line !== '') scan.owners.set(inode, line);
    }
  }
}

async function readCommandLine(pid: number): Promise<string> {
  try {
    const handle = await open(`/proc/${pid}/cmdline`, 'r');
    try {
      const buffer = Buffer.alloc(CMDLINE_READ_MAX_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return commandLineOf(buffer.toString('utf8', 0, bytesRead));
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/** Pure: the cgroupfs directories that may hold the cgroup a /proc/PID/cgroup text names, v2 first. */
export function parseCgroupDirs(text: string): string[] {
  const dirs: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^[0-9]+:([^:]*):(\/.*)$/.exec(line.trim());
    if (!match) continue;
    const [, controllers = '', path = ''] = match;
    // A cgroup outside this cgroup namespace shows as /../…: not reachable under our mount.
    if (path.split('/').includes('..')) continue;
    const suffix = path === '/' ? '' : path;
    if (controllers === '') dirs.unshift(`${CGROUP_ROOT}${suffix}`, `${CGROUP_ROOT}/unified${suffix}`);
    else dirs.push(`${CGROUP_ROOT}/${controllers.replace(/^name=/, '')}${suffix}`);
  }
  return [...new Set(dirs)];
}

/** The pids in the init's cgroup and the cgroups below it, lowest first; null when none can be read. */
export async function listCgroupPids(initPid: number): Promise<number[] | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${initPid}/cgroup`, 'utf8');
  } catch {
    return null;
  }
  for (const dir of parseCgroupDirs(text)) {
    const own = await readCgroupProcs(dir);
    // The init must be listed: otherwise this is another mount's (or namespace's) cgroup of that name.
    if (!own?.includes(initPid)) continue;
    const pids = new Set(own);
    const pending = await childDirs(dir);
    for (let visited = 1; pending.length > 0 && visited < MAX_CGROUP_DIRS; visited++) {
      const next = pending.shift() ?? '';
      for (const pid of (await readCgroupProcs(next)) ?? []) pids.add(pid);
      pending.push(...(await childDirs(next)));
    }
    return [...pids].sort((a, b) => a - b);
  }
  return null;
}

async function readCgroupProcs(dir: string): Promise<number[] | null> {
  try {
    const text = await readFile(`${dir}/cgroup.procs`, 'utf8');
    return text
      .split('\n')
      .filter((word) => NUMERIC_NAME_RE.test(word))
      .map(Number);
  } catch {
    return null;
  }
}

async function childDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory()).map((entry) => `${dir}/${entry.name}`);
  } catch {
    return [];
  }
}

/** Every pid whose network namespace is the init's, lowest first: a scan of all of /proc. */
export async function listNetnsPids(initPid: number): Promise<number[]> {
  let netns: string;
  let names: string[];
  try {
    netns = await readlink(`/proc/${initPid}/ns/net`);
    names = await readdir('/proc');
  } catch {
    return [];
  }
  const pids = names
    .filter((name) => NUMERIC_NAME_RE.test(name))
    .map(Number)
    .sort((a, b) => a - b);
  const links = await mapInBatches(pids, (pid) => readlink(`/proc/${pid}/ns/net`).catch(() => ''));
  return pids.filter((_, index) => links[index] === netns);
}

async function mapInBatches<T, R>(items: readonly T[], map: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += READLINK_BATCH_SIZE) {
    results.push(...(await Promise.all(items.slice(start, start + READLINK_BATCH_SIZE).map(map))));
  }
  return results;
}

// Command lines come back as data only: parsed here, never handed to a shell on the host.
async function probeOwners(
  docker: Docker,
  containerId: string,
  inodes: ReadonlySet<number>,
): Promise<Map<number, string>> {
  if (inodes.size === 0) return new Map();
  const nonce = randomBytes(8).toString('hex');
  const argv = ['sh', '-c', OWNERS_PROBE_SCRIPT, 'sh', nonce, ...[...inodes].map(String)];
  try {
    // As uid 0 so that processes of every user in the container show their fds.
    const result = await docker.exec(containerId, argv, { user: '0', timeoutMs: OWNERS_PROBE_TIMEOUT_MS });
    // No sh in the image, or the container is gone: no header, so no owners.
    const owners = parseOwnersProbe(result.stdout);
    for (const inode of owners.keys()) if (!inodes.has(inode)) owners.delete(inode);
    return owners;
  } catch {
    return new Map();
  }
}
