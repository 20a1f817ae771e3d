import { isIP } from 'node:net';

/**
 * What the forwarder asks the namespace helper: dial host:port inside the container's namespace
 * (`connect`), listen there on host:port and hand each accepted socket over (`listen`, answered once
 * it listens), stop the listener a `listen` request with id `listen` made (`close`), or bind a UDP
 * socket to host, port 0, and hand it back unconnected (`udp`).
 */
export type HelperRequest =
  | { id: number; op: 'connect' | 'listen'; host: string; port: number }
  | { id: number; op: 'close'; listen: number }
  | { id: number; op: 'udp'; host: string };

/** A socket a helper's listener accepted: it comes with the message, for the `listen` request `listen`. */
export interface HelperAccepted {
  accepted: number;
}

/** The helper's answer to one request: the connected (or bound UDP) socket comes with it, or an error instead. */
export interface HelperReply {
  id: number;
  error?: string;
  /** The errno code (`ECONNREFUSED`, …), when there was one. */
  code?: string | null;
}

/** The helper's first message: it runs in the container's namespace, and takes requests. */
export const HELPER_READY = { ready: true } as const;

/** Pure: whether a message from the helper says it is ready. */
export function isHelperReady(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { ready?: unknown }).ready === true;
}

/** Pure: whether a message from the channel is a well-formed request. */
export function isHelperRequest(message: unknown): message is HelperRequest {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Record<string, unknown>;
  if (m.op === 'udp') return Number.isSafeInteger(m.id) && typeof m.host === 'string' && isIP(m.host) !== 0;
  if (m.op === 'close') return Number.isSafeInteger(m.id) && Number.isSafeInteger(m.listen);
  return (
    Number.isSafeInteger(m.id) &&
    (m.op === 'connect' || m.op === 'listen') &&
    typeof m.host === 'string' &&
    Number.isInteger(m.port) &&
    (m.port as number) > 0 &&
    (m.port as number) < 65536
  );
}

/** Pure: whether a message from the helper is a reply to a request. */
export function isHelperReply(message: unknown): message is HelperReply {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Record<string, unknown>;
  return Number.isSafeInteger(m.id) && (m.error === undefined || typeof m.error === 'string');
}

/** Pure: whether a message from the helper carries a socket one of its listeners accepted. */
export function isHelperAccepted(message: unknown): message is HelperAccepted {
  return (
    typeof message === 'object' &&
    message !== null &&
    Number.isSafeInteger((message as { accepted?: unknown }).accepted)
  );
}
