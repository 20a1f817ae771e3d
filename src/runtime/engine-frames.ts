/**
 * Docker's multiplexed attach stream (an exec without a TTY): frames of an 8-byte header (the
 * stream: 0 stdin, 1 stdout, 2 stderr; three zero bytes; the payload's length, 32-bit big-endian)
 * followed by the payload. Chunks from the socket split frames anywhere.
 */
export const FRAME_HEADER_BYTES = 8;

export type FrameStream = 'stdin' | 'stdout' | 'stderr';
const STREAMS: readonly FrameStream[] = ['stdin', 'stdout', 'stderr'];

/** Receives each payload, or each piece of one as it arrives, with the stream it belongs to. */
export type FrameSink = (stream: FrameStream, payload: Buffer) => void;

/** Splits chunks of a multiplexed stream into payloads; throws on a header no engine would send. */
export class FrameDemuxer {
  private header: Buffer = Buffer.alloc(0);
  private stream: FrameStream = 'stdout';
  private left = 0;

  constructor(private readonly sink: FrameSink) {}

  /** True when the stream so far ended on a frame boundary (no header or payload half read). */
  get atBoundary(): boolean {
    return this.left === 0 && this.header.length === 0;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.left > 0) {
        const end = Math.min(chunk.length, offset + this.left);
        // A payload is passed on in the pieces it arrives in: a bulk transfer is never copied whole.
        this.sink(this.stream, chunk.subarray(offset, end));
        this.left -= end - offset;
        offset = end;
        continue;
      }
      const needed = FRAME_HEADER_BYTES - this.header.length;
      const taken = chunk.subarray(offset, offset + needed);
      this.header = this.header.length === 0 ? taken : Buffer.concat([this.header, taken]);
      offset += taken.length;
      if (this.header.length < FRAME_HEADER_BYTES) return;
      this.stream = streamOf(this.header);
      this.left = this.header.readUInt32BE(4);
      this.header = Buffer.alloc(0);
    }
  }
}

function streamOf(header: Buffer): FrameStream {
  const stream = STREAMS[header[0] ?? -1];
  if (stream === undefined || header[1] !== 0 || header[2] !== 0 || header[3] !== 0) {
    throw new Error(`not a multiplexed stream frame header: ${header.toString('hex')}`);
  }
  return stream;
}
