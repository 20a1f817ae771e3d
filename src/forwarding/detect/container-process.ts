import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseProcStatStartTime, parseProcStatState } from '../../common/process-info.js';

/**
 * Clock ticks a second in /proc/PID/stat's start time: USER_HZ, which Linux fixes at 100 on every
 * architecture Node runs on (whatever the kernel's own HZ).
 */
export const CLOCK_TICKS_PER_SECOND = 100;
/**
 * How much earlier than the engine's StartedAt the container's init may have started: the runtime
 * forks it at create, starts it, and only then does the engine record the time (under a loaded
 * host, seconds later).
 */
export const START_EARLY_TOLERANCE_MS = 30_000;
/** How much later: btime is whole seconds (truncated) and a tick is 10 ms. */
export const START_LATE_TOLERANCE_MS = 2_000;

/** What the engine says of a running container's init process. */
export interface EngineProcess {
  /** The container's full 64-hex id. */
  id: string;
  /** Its init's pid, in the engine's pid namespace, which need not be ours. */
  pid: number;
  /** State.StartedAt: RFC 3339 with nanoseconds. */
  startedAt: string;
}

/** What this machine's /proc says of the process with that pid. */
export interface LocalProcessEvidence {
  /** The text of /proc/PID/cgroup. */
  cgroup: string;
  /** Field 22 of /proc/PID/stat: when it started, in clock ticks since boot. */
  startTicks: number;
  /** `btime` of /proc/stat: when this machine booted, in seconds since the epoch. */
  bootTimeSeconds: number;
  /** Its parent: argv (from /proc/PPID/cmdline, NUL-separated; '' when unreadable) and real uid. */
  parent?: { cmdline: string; uid: number };
  /** Uids whose processes are trusted to be what they say: root and this process's own user. */
  trustedUids?: readonly number[];
}

/** The outcome of looking for the container's init in this machine's /proc. */
export type ContainerProcessProof = { proven: true; startTicks: number } | { proven: false; reason: string };

const FULL_ID_RE = /^[0-9a-f]{64}$/;

/**
 * True when a line of a /proc/PID/cgroup text puts the process in a cgroup that names the container
 * (`/docker/ID`, `/system.slice/docker-ID.scope`, `/libpod_parent/libpod-ID`, and nested below them).
 * Pure.
 */
export function cgroupNamesContainer(procCgroup: string, containerId: string): boolean {
  return procCgroup.split('\n').some((line) => cgroupPathNamesContainer(line, containerId));
}

/** True when one `hierarchy:controllers:path` line's path names the container's full id. Pure. */
export function cgroupPathNamesContainer(line: string, containerId: string): boolean {
  if (!FULL_ID_RE.test(containerId)) return false;
  const match = /^\d+:[^:]*:(\/.*)$/.exec(line.trim());
  if (!match?.[1]) return false;
  return new RegExp(`(^|[^0-9a-f])${containerId}([^0-9a-f]|$)`).test(match[1]);
}

/**
 * True when a parent's argv (NUL-separated, as /proc/PID/cmdline holds it) is Podman's `conmon`
 * monitoring this container (`-c ID` or `--cid ID`). Pure.
 */
export function conmonNamesContainer(cmdline: string, containerId: string): boolean {
  if (!FULL_ID_RE.test(containerId)) return false;
  const argv = cmdline.split('\0');
  if (basename(argv[0] ?? '') !== 'conmon') return false;
  return argv.some(
    (arg, index) =>
      ((arg === '-c' || arg === '--cid') && argv[index + 1] === containerId) ||
      arg === `--cid=${containerId}`,
  );
}

/**
 * Whether the process is in a cgroup that names the container or, for a rootless Podman container
 * (which on cgroup v1, or without systemd, gets no cgroup of its own and sits in its user's), is the
 * child of a `conmon` for that container that runs as root or as us: a process of another user
 * could name itself conmon, ours or root's are what we and root started. Pure.
 */
function namesContainer(evidence: LocalProcessEvidence, containerId: string): boolean {
  if (cgroupNamesContainer(evidence.cgroup, containerId)) return true;
  const { parent, trustedUids = [0] } = evidence;
  return (
    parent !== undefined &&
    trustedUids.includes(parent.uid) &&
    conmonNamesContainer(parent.cmdline, containerId)
  );
}

/** `btime` (seconds since the epoch) from the text of /proc/stat, or null. Pure. */
export function parseBootTime(procStat: string): number | null {
  const value = Number(/^btime (\d+)$/m.exec(procStat)?.[1]);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/** An engine's RFC 3339 time (nanoseconds, `Z` or an offset) in ms since the epoch, or null. Pure. */
export function parseEngineTime(text: string): number | null {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text.trim());
  if (!match) return null;
  const [, seconds, fraction = '', zone] = match;
  const ms = Date.parse(`${seconds}.${fraction.padEnd(3, '0').slice(0, 3)}${zone}`);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Whether a process of this machine is the container's init (pure, from what /proc says of it): the
 * engine's pid is a number in the engine's pid namespace, which on a remote engine (or another pid
 * namespace) is some unrelated local process. Proof is two facts: its cgroup names the container (or,
 * rootless, its trusted conmon parent does: see namesContainer), and it started when the engine says
 * the container did.
 */
export function proveContainerProcess(
  evidence: LocalProcessEvidence,
  container: Pick<EngineProcess, 'id' | 'startedAt'>,
): ContainerProcessProof {
  if (!namesContainer(evidence, container.id)) {
    return { proven: false, reason: 'neither its cgroup nor a conmon parent of ours names the container' };
  }
  const startedAt = parseEngineTime(container.startedAt);
  if (startedAt === null) {
    return { proven: false, reason: `the engine's StartedAt '${container.startedAt}' is not a time` };
  }
  const started = evidence.bootTimeSeconds * 1000 + (evidence.startTicks * 1000) / CLOCK_TICKS_PER_SECOND;
  const lead = startedAt - started;
  if (lead > START_EARLY_TOLERANCE_MS || lead < -START_LATE_TOLERANCE_MS) {
    return {
      proven: false,
      reason: `it started at ${new Date(started).toISOString()}, the container at ${container.startedAt}`,
    };
  }
  return { proven: true, startTicks: evidence.startTicks };
}

/** Looks for the container's init in this machine's /proc and proves it is that (see proveContainerProcess). */
export async function findContainerProcess(container: EngineProcess): Promise<ContainerProcessProof> {
  const { pid } = container;
  if (!Number.isSafeInteger(pid) || pid <= 0) return { proven: false, reason: 'the engine gave no pid' };
  let stat: string;
  let cgroup: string;
  let procStat: string;
  try {
    [stat, cgroup, procStat] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cgroup`, 'utf8'),
      readFile('/proc/stat', 'utf8'),
    ]);
  } catch {
    return { proven: false, reason: `no process ${pid} is visible here` };
  }
  const startTicks = parseProcStatState(stat) === 'Z' ? null : parseProcStatStartTime(stat);
  const bootTimeSeconds = parseBootTime(procStat);
  if (startTicks === null || bootTimeSeconds === null) {
    return { proven: false, reason: `process ${pid} is gone or its start time is unreadable` };
  }
  const parent = await readParent(stat);
  const trustedUids = [0, process.getuid?.() ?? 0];
  return proveContainerProcess({ cgroup, startTicks, bootTimeSeconds, parent, trustedUids }, container);
}

/** The argv and real uid of the parent named in a /proc/PID/stat text; undefined when unreadable. */
async function readParent(stat: string): Promise<LocalProcessEvidence['parent']> {
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (!Number.isSafeInteger(ppid) || ppid <= 0) return undefined;
  try {
    const [cmdline, status] = await Promise.all([
      readFile(`/proc/${ppid}/cmdline`, 'utf8'),
      readFile(`/proc/${ppid}/status`, 'utf8'),
    ]);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    return Number.isSafeInteger(uid) ? { cmdline, uid } : undefined;
  } catch {
    return undefined;
  }
}
