import type { ChangeHint, ListenerSource } from '../forwarding/detect/listener-source.js';

/**
 * The tables are read at least this often, whatever the change check says: a safety net for the rare
 * listen() and close() that cancel out between two checks. Every wake-up costs CPU on an idle machine,
 * so the check interval and this one are what the idle budget (0.6 CPU s/min) is spent on.
 */
export const FULL_SCAN_INTERVAL_MS = 2_000;
/**
 * The same for tables read through exec (a remote engine, a container whose init this host cannot
 * see): nothing cheap shows a change from outside, so this one read is all detection has, and a
 * listener must be seen within 2 s of its start. This wait, the 250 ms change-check tick and one
 * read (tens of milliseconds through the engine's API, local or over the SSH link) fit in that.
 */
export const EXEC_FULL_SCAN_INTERVAL_MS = 1_000;
/** After a change, the tables are read at most this often. */
export const MIN_SCAN_GAP_MS = 250;
/**
 * Connections opening and closing move the socket counters all the time, and a read of the tables
 * costs more the more sockets the host has. While scans triggered by the counters alone find the
 * same listeners, the gap before the next such scan doubles, up to this.
 */
export const MAX_SOCKET_SCAN_GAP_MS = 1_000;

/** Pure: the safety-net interval for a listener source of this kind. */
export function fullScanIntervalOf(kind: ListenerSource['kind']): number {
  return kind === 'exec' ? EXEC_FULL_SCAN_INTERVAL_MS : FULL_SCAN_INTERVAL_MS;
}

/**
 * When to read a container's listening sockets, from the change checks and what each read found.
 * Pure: the caller passes the time.
 */
export class ScanSchedule {
  private lastScan = -Infinity;
  private pending: ChangeHint = 'none';
  private socketGap = MIN_SCAN_GAP_MS;
  private lastListeners: string | null = null;

  /** `fullScanIntervalMs`: the safety net's interval (see FULL_SCAN_INTERVAL_MS). */
  constructor(private readonly fullScanIntervalMs = FULL_SCAN_INTERVAL_MS) {}

  /** Records a change check; true when the tables should be read now. */
  due(hint: ChangeHint, now: number): boolean {
    if (hint === 'processes') this.pending = 'processes';
    else if (hint === 'sockets' && this.pending === 'none') this.pending = 'sockets';
    const since = now - this.lastScan;
    if (since >= this.fullScanIntervalMs) return true;
    if (this.pending === 'processes') return since >= MIN_SCAN_GAP_MS;
    if (this.pending === 'sockets') return since >= this.socketGap;
    return false;
  }

  /** Records a read of the tables at `now`; `listeners` is any text that changes when they do. */
  scanned(listeners: string, now: number): void {
    const changed = listeners !== this.lastListeners;
    if (changed) this.socketGap = MIN_SCAN_GAP_MS;
    else if (this.pending === 'sockets') {
      this.socketGap = Math.min(this.socketGap * 2, MAX_SOCKET_SCAN_GAP_MS);
    }
    this.lastListeners = listeners;
    this.lastScan = now;
    this.pending = 'none';
  }
}
