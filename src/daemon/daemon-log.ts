import { closeSync, constants, fstatSync, openSync, renameSync, statSync, writeSync } from 'node:fs';

/** The forwarder's log is rotated once it passes this size, so a forwarder that runs for weeks stays bounded. */
export const LOG_ROTATE_BYTES = 5 * 1024 * 1024;
/** An environment variable that lowers LOG_ROTATE_BYTES (tests make a forwarder rotate in seconds). */
export const LOG_ROTATE_BYTES_ENV = 'PORTPILOT_LOG_ROTATE_BYTES';
/** The suffix of the one older log kept beside the current one. */
export const ROTATED_LOG_SUFFIX = '.1';

const STDOUT_FD = 1;
const LOG_OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** Where pino writes the forwarder's JSON lines: a log file that stays bounded and never throws. */
export interface DaemonLogSink {
  write(line: string): void;
  /**
   * From now on, rotate `file` (the log that `up` opened as our stdout) once it passes the limit:
   * rename it to `file.1`, replacing an older one, and go on in a fresh `file`.
   */
  rotate(file: string, maxBytes?: number): void;
}

/**
 * The forwarder writes its log to stdout until it knows the log's path. A write that fails (a full
 * disk, a read-only state dir) drops the line: the forwarder must keep forwarding whatever happens
 * to its log, and it says how many lines were lost once writing works again.
 */
export function createDaemonLogSink(env: NodeJS.ProcessEnv = process.env): DaemonLogSink {
  let fd = STDOUT_FD;
  let file: string | null = null;
  let limit = Infinity;
  let size = 0;
  let dropped = 0;

  const tryWrite = (text: string): boolean => {
    try {
      writeSync(fd, text);
      size += Buffer.byteLength(text);
      return true;
    } catch {
      return false;
    }
  };

  const rotateNow = (path: string) => {
    size = 0; // whatever happens below, the next attempt comes only after another `limit` bytes
    try {
      renameSync(path, `${path}${ROTATED_LOG_SUFFIX}`);
    } catch {
      return; // the state dir cannot be changed now: keep appending where we are
    }
    try {
      const next = openSync(path, LOG_OPEN_FLAGS, 0o600);
      if (fd !== STDOUT_FD) closeSync(fd);
      fd = next;
    } catch {
      // Keep writing to the renamed file until a fresh one can be made.
    }
  };

  return {
    write(line) {
      if (dropped > 0) {
        const note = `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg: `${dropped} log lines could not be written` })}\n`;
        if (tryWrite(note)) dropped = 0;
      }
      if (!tryWrite(line)) dropped += 1;
      if (file !== null && size >= limit) rotateNow(file);
    },
    rotate(path, maxBytes = rotateLimit(env)) {
      // Only when our stdout is that very file (not a terminal or a pipe, as when run by hand).
      try {
        const out = fstatSync(STDOUT_FD);
        const log = statSync(path);
        if (!out.isFile() || out.dev !== log.dev || out.ino !== log.ino) return;
        size = out.size;
      } catch {
        return;
      }
      file = path;
      limit = maxBytes;
      if (size >= limit) rotateNow(path);
    },
  };
}

function rotateLimit(env: NodeJS.ProcessEnv): number {
  const value = Number(env[LOG_ROTATE_BYTES_ENV]);
  return Number.isSafeInteger(value) && value > 0 ? value : LOG_ROTATE_BYTES;
}
