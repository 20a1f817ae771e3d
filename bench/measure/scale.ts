import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { SCALE_BYTES, SCALE_CONNECTIONS, SCALE_TIMEOUT_MS } from '../config.js';
import type { Reachable } from '../setup/topology.js';
import { nsToMs } from '../stats.js';

/** Many concurrent echo connections through one forward. */
export interface ScaleResult {
  connections: number;
  /** Got back exactly what they sent. */
  ok: number;
  /** Error, reset, or no EOF before the deadline. */
  failed: number;
  /** Ended cleanly, but with other bytes than they sent. */
  altered: number;
  seconds: number;
  firstError: string | null;
  /** What the first altered connection got back. */
  firstAlteration: string | null;
}

type Outcome = { kind: 'ok' } | { kind: 'altered'; detail: string } | { kind: 'failed'; error: string };

function compare(received: Buffer, sent: Buffer): Outcome {
  if (received.equals(sent)) return { kind: 'ok' };
  if (received.length !== sent.length) {
    return { kind: 'altered', detail: `${received.length} of ${sent.length} bytes came back` };
  }
  return { kind: 'altered', detail: 'as many bytes as sent came back, but not the same ones' };
}

function echoOnce(path: Reachable, payload: Buffer, deadline: number): Promise<Outcome> {
  const { host, port } = path.endpoints.echo;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port, allowHalfOpen: true });
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ kind: 'failed', error: `no EOF within ${SCALE_TIMEOUT_MS} ms` }),
      Math.max(0, deadline - Date.now()),
    );
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (error) => finish({ kind: 'failed', error: error.message }));
    socket.once('end', () => finish(compare(Buffer.concat(chunks), payload)));
    // Send everything, then half-close: the echo server answers the rest and closes.
    socket.end(payload);
  });
}

/**
 * Opens SCALE_CONNECTIONS connections at once to the path's echo server, each sending SCALE_BYTES
 * random bytes of its own and half-closing, and checks that each gets exactly its bytes back.
 */
export async function measureScale(path: Reachable): Promise<ScaleResult> {
  const payloads = Array.from({ length: SCALE_CONNECTIONS }, () => randomBytes(SCALE_BYTES));
  const started = process.hrtime.bigint();
  const deadline = Date.now() + SCALE_TIMEOUT_MS;
  const outcomes = await Promise.all(payloads.map((payload) => echoOnce(path, payload, deadline)));
  const failures = outcomes.flatMap((outcome) => (outcome.kind === 'failed' ? [outcome.error] : []));
  const alterations = outcomes.flatMap((outcome) => (outcome.kind === 'altered' ? [outcome.detail] : []));
  return {
    connections: outcomes.length,
    ok: outcomes.filter((outcome) => outcome.kind === 'ok').length,
    failed: failures.length,
    altered: alterations.length,
    seconds: nsToMs(process.hrtime.bigint() - started) / 1000,
    firstError: failures[0] ?? null,
    firstAlteration: alterations[0] ?? null,
  };
}
