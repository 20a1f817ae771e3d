import { MuxProtocolError, decodeOpen, encodeOpen } from './mux-codec.js';

/**
 * The frames of reverse ports on the mux channel (see mux-codec.ts for the rest of the protocol):
 * the agent listens on the container's loopback for the host, and each connection it accepts there
 * is a stream the AGENT opens; the host connects it to its own 127.0.0.1:PORT.
 */
export const MUX_REVERSE_FRAME_TYPES = {
  LISTEN: 13,
  LISTEN_OK: 14,
  LISTEN_FAIL: 15,
  UNLISTEN: 16,
  ACCEPT: 17,
  ACCEPT_OK: 18,
  ACCEPT_FAIL: 19,
} as const;

/**
 * The first id of the streams the agent opens (one per accepted connection): the host's count up
 * from 1, the agent's from here, so the two never meet.
 */
export const MUX_AGENT_STREAM_FIRST = 0x8000_0000;

/** The only addresses an agent listens on for the host: the container's loopback. */
export const MUX_REVERSE_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** Pure: whether a stream id is one the agent opened (an accepted connection). */
export function isAgentStream(id: number): boolean {
  return id >= MUX_AGENT_STREAM_FIRST && id <= 0xffff_ffff;
}

/** Pure: LISTEN's payload: the port (u16), then the address in ASCII (as OPEN's). */
export function encodeListen(address: string, port: number): Buffer {
  if (!(MUX_REVERSE_ADDRESSES as readonly string[]).includes(address)) {
    throw new MuxProtocolError(`a reverse port listens on the container's loopback only, not on ${address}`);
  }
  return encodeOpen(address, port);
}

/** Pure: LISTEN's address and port; null for a payload that is not one. */
export function decodeListen(payload: Buffer): { address: string; port: number } | null {
  return decodeOpen(payload);
}

/** Pure: ACCEPT's payload: the id of the listener that accepted (u32). */
export function encodeAccept(listenerId: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(listenerId, 0);
  return payload;
}

/** Pure: ACCEPT's listener id; null for a payload that is not one. */
export function decodeAccept(payload: Buffer): number | null {
  return payload.length === 4 ? payload.readUInt32BE(0) : null;
}

/**
 * Pure: the errno name a LISTEN_FAIL's reason starts with (both agents say `EADDRINUSE (Address
 * already in use)`), or null.
 */
export function listenFailureErrno(reason: string): string | null {
  return /^(E[A-Z0-9]+)\b/.exec(reason)?.[1] ?? null;
}
