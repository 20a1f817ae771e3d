/**
 * The datagram frames of the mux channel (see the protocol in mux-codec.ts): types 20 to 27 are
 * theirs. A datagram session is one host-side UDP client carried to one server in the container.
 */
export const MUX_DATAGRAM_FRAME_TYPES = {
  DGRAM_OPEN: 20,
  DGRAM_OPEN_FAIL: 21,
  DATAGRAM: 22,
  DGRAM_CLOSE: 23,
  DGRAM_DROPPED: 24,
} as const;

/** The first and last frame type kept for datagrams. */
const FIRST_DATAGRAM_TYPE = 20;
const LAST_DATAGRAM_TYPE = 27;

/**
 * Datagrams of one session that either side holds at most while they wait for the way on (the
 * host's channel writes, the agent's socket): past either bound a datagram is dropped, as a full
 * socket buffer drops one, and counted.
 */
export const MUX_DATAGRAM_QUEUE = 64;
export const MUX_DATAGRAM_QUEUE_BYTES = 262_144;
/** The socket buffers the agent asks for, as the forwarder's own UDP sockets (the kernel caps them). */
export const MUX_DATAGRAM_BUFFER_BYTES = 4 * 1024 * 1024;

/** Pure: whether a frame of this type belongs to a datagram session. */
export function isDatagramFrame(type: number): boolean {
  return type >= FIRST_DATAGRAM_TYPE && type <= LAST_DATAGRAM_TYPE;
}

/** Pure: DGRAM_DROPPED's payload: how many datagrams the agent dropped since it last said. */
export function encodeDropped(count: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(Math.min(Math.max(Math.trunc(count), 0), 0xffff_ffff), 0);
  return payload;
}

/** Pure: DGRAM_DROPPED's count; 0 for a payload that is not one. */
export function decodeDropped(payload: Buffer): number {
  return payload.length === 4 ? payload.readUInt32BE(0) : 0;
}

/** What one session holds queued: datagrams and their bytes. */
export interface DatagramQueue {
  datagrams: number;
  bytes: number;
}

/**
 * Pure: whether a datagram of `size` bytes may join `queue` (else it is dropped). An empty queue
 * takes any datagram, so the largest one always has its chance.
 */
export function admitsDatagram(queue: DatagramQueue, size: number): boolean {
  if (queue.datagrams === 0) return true;
  return queue.datagrams < MUX_DATAGRAM_QUEUE && queue.bytes + size <= MUX_DATAGRAM_QUEUE_BYTES;
}
