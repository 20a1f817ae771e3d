import { describe, expect, it } from 'vitest';
import { FrameDemuxer, type FrameStream } from '../../../src/runtime/engine-frames.js';

function frame(stream: number, payload: string): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
}

function demux(chunks: Buffer[]): { streams: Record<FrameStream, string>; demuxer: FrameDemuxer } {
  const streams: Record<FrameStream, string> = { stdin: '', stdout: '', stderr: '' };
  const demuxer = new FrameDemuxer((stream, payload) => (streams[stream] += payload.toString()));
  for (const chunk of chunks) demuxer.push(chunk);
  return { streams, demuxer };
}

describe('FrameDemuxer', () => {
  it('passes each frame to its stream', () => {
    const { streams, demuxer } = demux([
      Buffer.concat([frame(1, '{"port": 4'), frame(2, 'warning\n'), frame(1, '1}\n')]),
    ]);
    expect(streams).toEqual({ stdin: '', stdout: '{"port": 41}\n', stderr: 'warning\n' });
    expect(demuxer.atBoundary).toBe(true);
  });

  it('reassembles frames split anywhere, one byte at a time included', () => {
    const whole = Buffer.concat([frame(1, 'hello, '), frame(2, 'oops'), frame(1, 'world'), frame(1, '')]);
    for (const size of [1, 3, 7, 8, 9, 13]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < whole.length; at += size) chunks.push(whole.subarray(at, at + size));
      expect(demux(chunks).streams).toMatchObject({ stdout: 'hello, world', stderr: 'oops' });
    }
  });

  it('says when the stream stopped inside a header or a payload', () => {
    const whole = frame(1, 'abcdef');
    expect(demux([whole.subarray(0, 5)]).demuxer.atBoundary).toBe(false);
    expect(demux([whole.subarray(0, 10)]).demuxer.atBoundary).toBe(false);
    expect(demux([whole]).demuxer.atBoundary).toBe(true);
  });

  it('refuses a header no engine sends (a raw, TTY stream, say)', () => {
    expect(() => demux([Buffer.from('HTTP/1.1 200 OK\r\n')])).toThrow(/not a multiplexed stream/);
    expect(() => demux([Buffer.from([3, 0, 0, 0, 0, 0, 0, 1, 65])])).toThrow(/03000000/);
  });

  it('hands a large payload on in the pieces it arrived in, without copying it whole', () => {
    const pieces: number[] = [];
    const demuxer = new FrameDemuxer((_stream, payload) => pieces.push(payload.length));
    const payload = Buffer.alloc(300_000);
    const whole = Buffer.concat([frame(1, ''), payload]);
    whole.writeUInt32BE(payload.length, 4);
    demuxer.push(whole.subarray(0, 100_008));
    demuxer.push(whole.subarray(100_008));
    expect(pieces).toEqual([100_000, 200_000]);
  });
});
