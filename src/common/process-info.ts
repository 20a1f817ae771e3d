import { readFile } from 'node:fs/promises';

/** The start time of a process (clock ticks since boot) from the text of /proc/PID/stat, or null. */
export function parseProcStatStartTime(statText: string): number | null {
  // The command name (field 2) is in parentheses and may itself hold spaces and ')', so fields are
  // counted from the last ')'. Field 3 (state) follows it; starttime is field 22.
  const close = statText.lastIndexOf(')');
  if (close < 0) return null;
  const fields = statText
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const value = Number(fields[19]);
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** The state letter (R, S, Z, …) from the text of /proc/PID/stat, or null. */
export function parseProcStatState(statText: string): string | null {
  const close = statText.lastIndexOf(')');
  if (close < 0) return null;
  return (
    statText
      .slice(close + 1)
      .trim()
      .charAt(0) || null
  );
}

/**
 * The start time of a live process, or null when there is no such process. A zombie counts as gone:
 * a detached forwarder's parent may never reap it, and it holds no sockets. Rejects when it cannot
 * tell (out of file descriptors, say): that says nothing about the process.
 */
export async function readProcessStartTime(pid: number): Promise<number | null> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    if (isNoSuchProcess(error)) return null;
    throw error;
  }
  if (parseProcStatState(stat) === 'Z') return null;
  return parseProcStatStartTime(stat);
}

/** True for the errors a read under /proc/PID gives once the process is gone (ENOENT; ESRCH mid-read). */
export function isNoSuchProcess(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** The argv of a live process, or null. */
export async function readProcessArgv(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((part, index, all) => part !== '' || index < all.length - 1);
  } catch {
    return null;
  }
}

/** True when the process `pid` is alive and is the same process that started at `startTime`. */
export async function isSameProcessAlive(pid: number, startTime: number): Promise<boolean> {
  const actual = await readProcessStartTime(pid);
  return actual !== null && actual === startTime;
}
