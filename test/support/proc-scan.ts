import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const SCAN_INTERVAL_MS = 10;

/** Every process's command line now, arguments joined by spaces (what `ps` shows any local user). */
export function commandLinesNow(): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const raw = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (raw !== '') lines.push(raw.replace(/\0+$/, '').split('\0').join(' '));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return lines;
}

/** Scans every process's command line, over and over, until `work` settles; returns what it saw. */
export async function commandLinesDuring<T>(work: Promise<T>): Promise<{ result: T; seen: Set<string> }> {
  const seen = new Set<string>();
  let done = false;
  const settled = work.finally(() => {
    done = true;
  });
  while (!done) {
    for (const line of commandLinesNow()) seen.add(line);
    await sleep(SCAN_INTERVAL_MS);
  }
  return { result: await settled, seen };
}
