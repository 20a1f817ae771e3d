import { execa } from 'execa';
import { WRK_CONNECTIONS, WRK_DURATION_S, WRK_TIMEOUT_S } from '../config.js';
import type { BenchPath } from '../setup/topology.js';

/** HTTP requests per second with a new connection for every request. */
export interface RequestsResult {
  rps: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx answers. */
  errors: number;
}

/** Pure: the figures of wrk's plain-text report. */
export function parseWrkOutput(text: string): RequestsResult {
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1] ?? Number.NaN);
  const requests = Number(/^\s*(\d+) requests in /m.exec(text)?.[1] ?? Number.NaN);
  if (!Number.isFinite(rps) || !Number.isFinite(requests))
    throw new Error(`wrk printed no figures:\n${text}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return { rps, requests, errors: socketErrors + non2xx };
}

/** Runs wrk (Connection: close, so every request is a new connection) against the path's HTTP server. */
export async function measureRequests(path: BenchPath): Promise<RequestsResult> {
  const { host, port } = path.endpoints.http;
  const result = await execa(
    'wrk',
    [
      '--threads',
      '1',
      '--connections',
      String(WRK_CONNECTIONS),
      '--duration',
      `${WRK_DURATION_S}s`,
      '--timeout',
      `${WRK_TIMEOUT_S}s`,
      '--header',
      'Connection: close',
      `http://${host}:${port}/`,
    ],
    { timeout: (WRK_DURATION_S + WRK_TIMEOUT_S + 30) * 1000 },
  );
  return parseWrkOutput(result.stdout);
}
