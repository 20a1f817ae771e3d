/**
 * The mux channel's protocol: one long-lived exec per container (`container-programs/mux-agent/`, python3 or perl) carries every
 * connection of that container over its stdin and stdout.
 *
 * - The agent writes MUX_MAGIC on stdout first, then frames; the host writes frames only.
 * - A frame: type (u8), stream id (u32 big-endian), payload length (u32 big-endian), payload. A
 *   frame whose length passes MUX_MAX_PAYLOAD_BYTES breaks the channel: its reader ends it.
 * - Streams are opened by the host, ids counting up from 1 and never reused on a channel; id 0 is
 *   the channel itself (PING, PONG). The agent opens streams too, for reverse ports (ACCEPT below),
 *   with ids of its own from 0x80000000 up (MUX_AGENT_STREAM_FIRST): the two never meet.
 * - OPEN (host → agent): port (u16) then the target address in ASCII. The agent binds a socket to
 *   that address first (any address not the container's own fails: never a proxy to elsewhere),
 *   connects, and answers OPEN_OK, or OPEN_FAIL with the reason in ASCII and forgets the stream.
 * - DATA: bytes of the stream, never more than the receiver's window has left. Each direction of a
 *   stream starts with MUX_INITIAL_WINDOW_BYTES; WINDOW (u32) grants that much more, sent by the
 *   receiver as its consumer (the socket it writes to) takes bytes. So a slow reader stops its own
 *   stream only, and neither side buffers more than a window per stream and direction. DATA beyond
 *   the window resets the stream.
 * - EOF: the sender's direction is done (a half-close); the receiver shuts down the writing side
 *   of its socket once it has written what it holds.
 * - CLOSE (agent → host): the agent has closed its socket after EOF both ways, and forgotten the
 *   stream; the host forgets it too.
 * - RESET (either way): the stream is aborted; its socket is reset (a TCP RST) and forgotten.
 * - PING (host → agent, id 0, any payload up to 64 bytes) is answered with PONG and the same
 *   payload. The host pings every few seconds; a channel from which nothing came during
 *   MUX_PINGS_MISSED pings is dead: its streams are reset and the next connection starts another.
 * - WATCH_LISTENER_CHANGES (host → agent, id 0): from now on the agent reports the serving sockets
 *   of its namespace (TCP in LISTEN from tcp and tcp6; UDP unconnected and off the ephemeral range
 *   from udp and udp6) as changes, and at once a full report; asked again, it sends a full report
 *   again (a resync). Each report is one or more frames whose payload is: sequence number (u32,
 *   one more than the frame before, whatever its type), more (u8: 1 when the report goes on in the
 *   next frame), count (u32: the sockets in all once the report is applied), then records, one a
 *   line (see detect/listener-report.ts): `+ TABLE LINE` a socket (its table's line, keyed by
 *   table, local address and inode), `- TABLE LOCAL INODE` one gone, `o INODE PID HEX` the owner of
 *   a socket (the hex of its /proc/PID/cmdline, found when it was added), `r FROM TO` the ephemeral
 *   range. LISTENERS_FULL starts a report that replaces the host's view; LISTENERS_CHANGED frames
 *   apply to it. A host that sees a gap in the numbers, a count that is not its view's, or a record
 *   it cannot apply asks for a full report.
 * - Datagram sessions (types 20-27, mux-datagram-codec.ts): one host-side UDP client each, its id
 *   from the host's stream ids (the same counter). DGRAM_OPEN (host → agent, OPEN's payload): the
 *   agent makes a UDP socket, binds it to that address (the container's own, as for OPEN) and
 *   connects it to address:port, so the server sees each session as a peer of its own and only its
 *   replies come back; on failure it answers DGRAM_OPEN_FAIL with the reason and forgets the session
 *   (no answer on success: the host sends at once). DATAGRAM (either way): exactly one datagram as
 *   its payload (0 to 65,535 bytes), never merged or split; one that cannot be sent or queued now is
 *   dropped (each side queues at most MUX_DATAGRAM_QUEUE datagrams and MUX_DATAGRAM_QUEUE_BYTES a
 *   session), and the agent reads its sockets only while its output is not backed up. DGRAM_DROPPED
 *   (agent → host, u32): datagrams the agent dropped since it last said. DGRAM_CLOSE (either way,
 *   optional ASCII reason): the session is over and its socket closed; the host sends it when the
 *   session was idle for the UDP session timeout (udp-relay.ts), the agent when its socket failed.
 * - Reverse ports, types 13-19 (MUX_REVERSE_FRAME_TYPES in mux-reverse-codec.ts). LISTEN (host →
 *   agent, a listener id of the host's, counting up from 1, in the stream field): port (u16) then
 *   127.0.0.1 or ::1 in ASCII (any other address is refused); the agent listens there and answers
 *   LISTEN_OK, or LISTEN_FAIL with the reason in ASCII, starting with the errno name (EADDRINUSE …).
 *   UNLISTEN (host → agent, the listener id) closes it; connections it accepted live on. Each
 *   connection a listener accepts: ACCEPT (agent → host, a new agent stream id, payload the listener
 *   id as u32); the agent leaves it unread until the host answers ACCEPT_OK (it has connected its
 *   side: from now on a stream as any other, DATA, WINDOW, EOF, CLOSE and RESET as above, each
 *   direction with its MUX_INITIAL_WINDOW_BYTES) or ACCEPT_FAIL (reason in ASCII: the agent resets
 *   the connection). The host dials only the port it asked the listener for: the agent names a
 *   listener, never a host port.
 * - Frames of any other type are skipped (11 and 12, once whole listener tables, are retired;
 *   31 and up are kept for later), and a peer that does not know a type ignores its frames.
 * - The agent exits when its stdin ends; frames for a stream it does not know (reset, closed) are
 *   ignored on both sides.
 */

/** What the agent writes first: the protocol's version. */
export const MUX_MAGIC = 'PPM1';
/** Bytes of a frame's header: type, stream id, length. */
export const MUX_HEADER_BYTES = 9;
/** The largest payload a frame may carry; a longer one breaks the channel. */
export const MUX_MAX_PAYLOAD_BYTES = 262_144;
/** The most DATA one frame carries (a read of a socket is cut into frames of this size). */
export const MUX_DATA_FRAME_BYTES = 65_536;
/**
 * Each direction of a stream may have this much in flight before its receiver grants more. Measured
 * here through the python agent (a local source, no engine): 256 KiB gave 75-130 MB/s, 1 MiB
 * 150-500 MB/s, the reads no longer stalling for a grant every 128 KiB: it is also what a stalled
 * reader's stream holds at most, on each side.
 */
export const MUX_INITIAL_WINDOW_BYTES = 1_048_576;

export const MUX_FRAME_TYPES = {
  OPEN: 1,
  OPEN_OK: 2,
  OPEN_FAIL: 3,
  DATA: 4,
  WINDOW: 5,
  EOF: 6,
  CLOSE: 7,
  RESET: 8,
  PING: 9,
  PONG: 10,
  WATCH_LISTENER_CHANGES: 28,
  LISTENERS_FULL: 29,
  LISTENERS_CHANGED: 30,
} as const;
export type MuxFrameTypeName = keyof typeof MUX_FRAME_TYPES;

/** One frame as read: `type` is the number on the wire, known or not. */
export interface MuxFrame {
  type: number;
  stream: number;
  payload: Buffer;
}

/** The stream is not a frame stream (a header no agent sends): the channel cannot go on. */
export class MuxProtocolError extends Error {
  override name = 'MuxProtocolError';
}

const U32_MAX = 0xffff_ffff;

/** Pure: one frame on the wire. */
export function encodeFrame(type: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  if (payload.length > MUX_MAX_PAYLOAD_BYTES) {
    throw new MuxProtocolError(
      `a ${payload.length}-byte frame passes the ${MUX_MAX_PAYLOAD_BYTES}-byte limit`,
    );
  }
  const frame = Buffer.allocUnsafe(MUX_HEADER_BYTES + payload.length);
  frame.writeUInt8(type, 0);
  frame.writeUInt32BE(stream, 1);
  frame.writeUInt32BE(payload.length, 5);
  frame.set(payload, MUX_HEADER_BYTES);
  return frame;
}

/** Pure: OPEN's payload for address:port (address as text, checked by the caller). */
export function encodeOpen(address: string, port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new MuxProtocolError(`mux target port ${port} is not a TCP port (1-65535)`);
  }
  const text = Buffer.from(address, 'ascii');
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(port, 0);
  text.copy(payload, 2);
  return payload;
}

/** Pure: OPEN's address and port; null for a payload that is not one. */
export function decodeOpen(payload: Buffer): { address: string; port: number } | null {
  if (payload.length < 3) return null;
  return { port: payload.readUInt16BE(0), address: payload.subarray(2).toString('ascii') };
}

/** Pure: WINDOW's payload. */
export function encodeWindow(bytes: number): Buffer {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > U32_MAX) {
    throw new MuxProtocolError(`a window grant of ${bytes} bytes is not 1 to ${U32_MAX}`);
  }
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes, 0);
  return payload;
}

/** Pure: WINDOW's grant; null for a payload that is not one. */
export function decodeWindow(payload: Buffer): number | null {
  return payload.length === 4 ? payload.readUInt32BE(0) : null;
}

/**
 * Splits the bytes of a channel into frames, however its chunks cut them; throws MuxProtocolError
 * at a length past MUX_MAX_PAYLOAD_BYTES (nothing is buffered for it). A frame's payload is a view
 * of the chunk it came in where it came whole; chunks that split one are joined once, when the
 * frame is whole, so a bulk transfer's bytes are not copied again for every chunk.
 */
export class MuxDecoder {
  private parts: Buffer[] = [];
  private held = 0;
  /** Bytes the next frame needs in all: its header, then header and payload once the header is read. */
  private needed = MUX_HEADER_BYTES;
  private broken = false;

  constructor(private readonly sink: (frame: MuxFrame) => void) {}

  /** Bytes held of a frame not yet whole. */
  get buffered(): number {
    return this.held;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.parts.push(chunk);
    this.held += chunk.length;
    if (this.held < this.needed) return;
    const data = this.parts.length === 1 ? chunk : Buffer.concat(this.parts, this.held);
    let offset = 0;
    for (;;) {
      const left = data.length - offset;
      if (left < MUX_HEADER_BYTES) {
        this.needed = MUX_HEADER_BYTES;
        break;
      }
      const length = data.readUInt32BE(offset + 5);
      if (length > MUX_MAX_PAYLOAD_BYTES) {
        this.broken = true;
        this.parts = [];
        this.held = 0;
        throw new MuxProtocolError(
          `a frame of ${length} bytes passes the ${MUX_MAX_PAYLOAD_BYTES}-byte limit (type ${data[offset]}, stream ${data.readUInt32BE(offset + 1)})`,
        );
      }
      this.needed = MUX_HEADER_BYTES + length;
      if (left < this.needed) break;
      this.sink({
        type: data.readUInt8(offset),
        stream: data.readUInt32BE(offset + 1),
        payload: data.subarray(offset + MUX_HEADER_BYTES, offset + this.needed),
      });
      offset += this.needed;
    }
    const rest = data.subarray(offset);
    this.parts = rest.length === 0 ? [] : [rest];
    this.held = rest.length;
  }
}
