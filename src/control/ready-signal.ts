import { closeSync, writeSync } from 'node:fs';
import { isErrorCode, type ErrorCode } from '../common/errors.js';

/** The file descriptor on which a starting forwarder reports readiness to `up`. */
export const READY_FD = 3;

/** What the readiness handshake carries: one JSON line on READY_FD. */
export type ReadyMessage =
  { ok: true; pid: number } | { ok: false; message: string; description?: string; code?: ErrorCode };

/** Pure: the handshake line `up` reads, or null when it is not one. */
export function parseReady(line: string): ReadyMessage | null {
  try {
    const value = JSON.parse(line) as ReadyMessage;
    if (typeof value !== 'object' || value === null || typeof value.ok !== 'boolean') return null;
    // A code this portpilot does not know is reported as the forwarder's own failure.
    if (value.ok || value.code === undefined || isErrorCode(value.code)) return value;
    const { code: _unknown, ...known } = value;
    return known;
  } catch {
    return null;
  }
}

/** The forwarder's side: says once whether it started, then closes the descriptor. */
export function reportReady(message: ReadyMessage): void {
  try {
    writeSync(READY_FD, JSON.stringify(message) + '\n');
    closeSync(READY_FD);
  } catch {
    // `up` is gone; nobody to tell.
  }
}
