import { describe, expect, it } from 'vitest';
import {
  MUX_FRAME_TYPES as T,
  MUX_HEADER_BYTES,
  MUX_MAX_PAYLOAD_BYTES,
  MuxDecoder,
  MuxProtocolError,
  decodeOpen,
  decodeWindow,
  encodeFrame,
  encodeOpen,
  encodeWindow,
  type MuxFrame,
} from '../../../../../src/forwarding/relay/mux/mux-codec.js';

function decodeAll(...chunks: Buffer[]): MuxFrame[] {
  const frames: MuxFrame[] = [];
  const decoder = new MuxDecoder((frame) => frames.push({ ...frame, payload: Buffer.from(frame.payload) }));
  for (const chunk of chunks) decoder.push(chunk);
  return frames;
}

describe('encodeFrame', () => {
  it('writes type, stream id and length big-endian before the payload', () => {
    const frame = encodeFrame(T.DATA, 0x01020304, Buffer.from('hi'));
    expect(frame.toString('hex')).toBe('04' + '01020304' + '00000002' + Buffer.from('hi').toString('hex'));
    expect(encodeFrame(T.EOF, 7)).toHaveLength(MUX_HEADER_BYTES);
  });

  it('refuses a payload past the limit', () => {
    expect(() => encodeFrame(T.DATA, 1, Buffer.alloc(MUX_MAX_PAYLOAD_BYTES + 1))).toThrow(MuxProtocolError);
  });
});

describe('MuxDecoder', () => {
  const a = encodeFrame(T.DATA, 1, Buffer.from('first'));
  const b = encodeFrame(T.WINDOW, 2, encodeWindow(131_072));
  const c = encodeFrame(T.EOF, 1);

  it('reads frames merged into one chunk', () => {
    expect(decodeAll(Buffer.concat([a, b, c]))).toEqual([
      { type: T.DATA, stream: 1, payload: Buffer.from('first') },
      { type: T.WINDOW, stream: 2, payload: encodeWindow(131_072) },
      { type: T.EOF, stream: 1, payload: Buffer.alloc(0) },
    ]);
  });

  it('reads frames split anywhere, a byte at a time included', () => {
    const all = Buffer.concat([a, b, c]);
    const whole = decodeAll(all);
    for (let cut = 1; cut < all.length; cut++) {
      expect(decodeAll(all.subarray(0, cut), all.subarray(cut))).toEqual(whole);
    }
    expect(decodeAll(...[...all].map((byte) => Buffer.from([byte])))).toEqual(whole);
  });

  it('holds only a frame not yet whole', () => {
    const decoder = new MuxDecoder(() => undefined);
    decoder.push(Buffer.concat([a, b.subarray(0, 5)]));
    expect(decoder.buffered).toBe(5);
    decoder.push(b.subarray(5));
    expect(decoder.buffered).toBe(0);
  });

  it('passes frames of unknown types on, for the channel to skip', () => {
    expect(decodeAll(encodeFrame(200, 0, Buffer.from('later')))).toEqual([
      { type: 200, stream: 0, payload: Buffer.from('later') },
    ]);
  });

  it('refuses a length past the limit as soon as the header is read, buffering nothing for it', () => {
    const hostile = Buffer.alloc(MUX_HEADER_BYTES);
    hostile.writeUInt8(T.DATA, 0);
    hostile.writeUInt32BE(1, 1);
    hostile.writeUInt32BE(0xffff_ffff, 5);
    const decoder = new MuxDecoder(() => undefined);
    expect(() => decoder.push(hostile)).toThrow(/4294967295 bytes passes the 262144-byte limit/);
    expect(decoder.buffered).toBe(0);
    // Once broken, it reads nothing more.
    const frames: MuxFrame[] = [];
    const broken = new MuxDecoder((frame) => frames.push(frame));
    expect(() => broken.push(Buffer.concat([a, hostile]))).toThrow(MuxProtocolError);
    broken.push(a);
    expect(frames).toHaveLength(1);
  });

  it('reads a frame of exactly the limit', () => {
    const payload = Buffer.alloc(MUX_MAX_PAYLOAD_BYTES, 1);
    const [frame] = decodeAll(encodeFrame(T.DATA, 3, payload));
    expect(frame?.payload.equals(payload)).toBe(true);
  });
});

describe('OPEN and WINDOW payloads', () => {
  it('round-trip', () => {
    expect(decodeOpen(encodeOpen('127.0.0.1', 8080))).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(decodeOpen(encodeOpen('::1', 1))).toEqual({ address: '::1', port: 1 });
    expect(decodeWindow(encodeWindow(262_144))).toBe(262_144);
  });

  it('refuse what is not one', () => {
    expect(() => encodeOpen('127.0.0.1', 0)).toThrow(/not a TCP port/);
    expect(() => encodeWindow(0)).toThrow(MuxProtocolError);
    expect(decodeOpen(Buffer.from([0, 80]))).toBeNull();
    expect(decodeWindow(Buffer.from([0, 0, 1]))).toBeNull();
  });
});
