import { readFile, readdir } from 'node:fs/promises';
import { execa } from 'execa';

/** One process as /proc/PID/stat shows it. */
interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime: its own CPU and that of the children it reaped, in clock ticks. */
  ticks: number;
}

let clockTicksPerS: number | undefined;

/** The kernel's clock ticks per second (USER_HZ), as /proc counts CPU time. */
export async function clockTicks(): Promise<number> {
  clockTicksPerS ??= Number((await execa('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  return clockTicksPerS;
}

async function readStat(pid: number): Promise<ProcStat | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const at = (field: number) => Number(fields[field - 3]);
    return { pid, ppid: at(4), ticks: at(14) + at(15) + at(16) + at(17) };
  } catch {
    return null;
  }
}

async function allStats(): Promise<ProcStat[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = await Promise.all(pids.map(readStat));
  return stats.filter((stat): stat is ProcStat => stat !== null);
}

/** The whole machine's CPU time so far, in clock ticks summed over its CPUs. */
export interface MachineCpu {
  /** Every state but idle and iowait: user, nice, system, irq, softirq, steal. */
  busy: number;
  total: number;
  /** The CPUs the sums are over (one `cpuN` line each). */
  cpus: number;
}

/** Pure: /proc/stat's `cpu  user nice system idle iowait irq softirq steal …` line, and its `cpuN` lines counted. */
export function parseMachineCpu(procStat: string): MachineCpu {
  const lines = procStat.split('\n');
  const line = lines[0] ?? '';
  if (!line.startsWith('cpu ')) throw new Error(`/proc/stat does not start with the cpu line: ${line}`);
  // guest and guest_nice are already counted in user and nice.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  const cpus = lines.filter((other) => /^cpu\d+ /.test(other)).length;
  return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total, cpus };
}

/** The machine's CPU time so far (see MachineCpu). */
export async function machineCpu(): Promise<MachineCpu> {
  return parseMachineCpu(await readFile('/proc/stat', 'utf8'));
}

/** Pure: how many of the machine's CPUs were busy on average between two readings. */
export function coresBusy(before: MachineCpu, after: MachineCpu): number {
  const total = after.total - before.total;
  return total > 0 ? ((after.busy - before.busy) / total) * after.cpus : 0;
}

/** The pid and every live descendant of it (empty when it is gone). */
export async function processTree(rootPid: number): Promise<ProcStat[]> {
  const stats = await allStats();
  const byParent = new Map<number, ProcStat[]>();
  for (const stat of stats) {
    const siblings = byParent.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else byParent.set(stat.ppid, [stat]);
  }
  const root = stats.find((stat) => stat.pid === rootPid);
  if (!root) return [];
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(byParent.get(tree[i]?.pid ?? -1) ?? []));
  return tree;
}

/**
 * CPU seconds used so far by a process tree. Each process counts its own time plus its reaped
 * children's (cutime/cstime), so a child that came and went inside a window is still counted.
 */
export async function treeCpuSeconds(rootPid: number): Promise<number> {
  const ticks = (await processTree(rootPid)).reduce((sum, stat) => sum + stat.ticks, 0);
  return ticks / (await clockTicks());
}

/** Resident set size of one process in bytes (0 when it is gone or a kernel thread). */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Summed RSS of a process tree, in bytes, and how many processes it has. */
export async function treeRss(rootPid: number): Promise<{ bytes: number; processes: number }> {
  const tree = await processTree(rootPid);
  const sizes = await Promise.all(tree.map((stat) => rssBytes(stat.pid)));
  return { bytes: sizes.reduce((a, b) => a + b, 0), processes: tree.length };
}

/** How many descendants a process has right now (its relays and their children). */
export async function descendantCount(rootPid: number): Promise<number> {
  return Math.max(0, (await processTree(rootPid)).length - 1);
}

/** A container's cgroup files, found from its init process. */
export interface ContainerCgroup {
  /** Host pids of every process in the container. */
  pids(): Promise<number[]>;
  /** CPU seconds used by everything that ever ran in the container. */
  cpuSeconds(): Promise<number>;
}

/** Finds the cgroup (v1 cpuacct or v2) of a container from its init pid's /proc entry. */
export async function containerCgroup(initPid: number): Promise<ContainerCgroup> {
  const lines = (await readFile(`/proc/${initPid}/cgroup`, 'utf8')).trim().split('\n');
  const v1 = lines.map((line) => line.split(':')).find(([, controllers]) => controllers?.includes('cpuacct'));
  const v2 = lines.find((line) => line.startsWith('0::'));
  const readPids = async (dir: string) =>
    (await readFile(`${dir}/cgroup.procs`, 'utf8')).split('\n').filter(Boolean).map(Number);
  if (v1) {
    const path = v1.slice(2).join(':');
    const candidates = ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'].map(
      (mount) => `/sys/fs/cgroup/${mount}${path}`,
    );
    for (const dir of candidates) {
      try {
        await readFile(`${dir}/cpuacct.usage`, 'utf8');
      } catch {
        continue;
      }
      return {
        pids: () => readPids(dir),
        cpuSeconds: async () => Number(await readFile(`${dir}/cpuacct.usage`, 'utf8')) / 1e9,
      };
    }
  }
  if (v2) {
    const dir = `/sys/fs/cgroup${v2.slice(3)}`;
    return {
      pids: () => readPids(dir),
      cpuSeconds: async () => {
        const stat = await readFile(`${dir}/cpu.stat`, 'utf8');
        return Number(/^usage_usec (\d+)$/m.exec(stat)?.[1] ?? Number.NaN) / 1e6;
      },
    };
  }
  throw new Error(`no cpuacct or v2 cgroup for pid ${initPid} in /proc/${initPid}/cgroup`);
}

// /proc/net/tcp spells an IPv4 address as the raw little-endian word, hence the reversed bytes.
function procNetAddress(host: string, port: number): string {
  const hex = host
    .split('.')
    .reverse()
    .map((byte) => Number(byte).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Which of the IPv4 host:port pairs listen in the network namespace of `pid` ('self' = the host). */
export async function listeningIn(
  pid: number | 'self',
  addresses: readonly { host: string; port: number }[],
): Promise<boolean[]> {
  const text = await readFile(`/proc/${pid}/net/tcp`, 'utf8');
  const listening = new Set(
    text
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === '0A')
      .map((fields) => fields[1]),
  );
  return addresses.map(({ host, port }) => listening.has(procNetAddress(host, port)));
}
