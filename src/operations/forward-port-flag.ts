import { UsageError } from '../common/errors.js';

/** One `--forward-port` value. */
export interface ForwardPortFlag {
  service: string | null;
  port: number;
}

const MAX_PORT = 65_535;

/** Parses `PORT` or `SERVICE:PORT`. */
export function parseForwardPortFlag(raw: string): ForwardPortFlag {
  const match = /^(?:([A-Za-z0-9][A-Za-z0-9_.-]*):)?(\d{1,5})$/.exec(raw.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > MAX_PORT) {
    throw new UsageError(`--forward-port ${JSON.stringify(raw)} is not a port`, {
      description: 'Expected PORT (1-65535) or SERVICE:PORT, e.g. --forward-port 3000 or --forward-port db:5432.',
    });
  }
  return { service: match[1] ?? null, port };
}
