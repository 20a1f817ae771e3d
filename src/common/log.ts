/**
 * Where a library module reports something for a person to read (a warning, a step of progress),
 * with optional structured fields for the daemon's log; the caller decides where it goes.
 */
export type Log = (message: string, fields?: Record<string, unknown>) => void;

/** The Log that reports each message as a warning on `log`. */
export function warningsTo(log: Log): Log {
  return (message, fields) => log(`warning: ${message}`, fields);
}
