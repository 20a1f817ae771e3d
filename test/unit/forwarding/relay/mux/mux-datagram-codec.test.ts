import { describe, expect, it } from 'vitest';
import {
  MUX_FRAME_TYPES,
  MuxDecoder,
  encodeFrame,
  type MuxFrame,
} from '../../../../../src/forwarding/relay/mux/mux-codec.js';
import {
  MUX_DATAGRAM_FRAME_TYPES as D,
  MUX_DATAGRAM_QUEUE,
  MUX_DATAGRAM_QUEUE_BYTES,
  admitsDatagram,
  decodeDropped,
  encodeDropped,
  isDatagramFrame,
} from '../../../../../src/forwarding/relay/mux/mux-datagram-codec.js';

describe('the datagram frame types', () => {
  it('lie in 20-27, apart from every other frame type', () => {
    for (const type of Object.values(D)) {
      expect(type).toBeGreaterThanOrEqual(20);
      expect(type).toBeLessThanOrEqual(27);
      expect(isDatagramFrame(type)).toBe(true);
    }
    for (const type of Object.values(MUX_FRAME_TYPES)) expect(isDatagramFrame(type)).toBe(false);
    for (const type of [13, 19, 28, 255]) expect(isDatagramFrame(type)).toBe(false);
    expect(new Set(Object.values(D)).size).toBe(Object.keys(D).length);
  });

  it('carry each datagram whole, one a frame: empty, 1 and 65,535 bytes come out as they went in', () => {
    const sizes = [0, 1, 65_507, 65_535];
    const datagrams = sizes.map((size) => Buffer.alloc(size, size % 251));
    const wire = Buffer.concat(datagrams.map((datagram) => encodeFrame(D.DATAGRAM, 3, datagram)));
    const frames: MuxFrame[] = [];
    const decoder = new MuxDecoder((frame) => frames.push({ ...frame, payload: Buffer.from(frame.payload) }));
    // However the channel cuts them.
    for (let offset = 0; offset < wire.length; offset += 7_001)
      decoder.push(wire.subarray(offset, offset + 7_001));
    expect(frames.map((frame) => frame.payload.length)).toEqual(sizes);
    frames.forEach((frame, index) => {
      expect(frame).toMatchObject({ type: D.DATAGRAM, stream: 3 });
      expect(frame.payload.equals(datagrams[index] ?? Buffer.alloc(0))).toBe(true);
    });
  });
});

describe('DGRAM_DROPPED', () => {
  it('carries a count as a u32, capped; any other payload counts nothing', () => {
    expect(encodeDropped(5).toString('hex')).toBe('00000005');
    expect(decodeDropped(encodeDropped(70_000))).toBe(70_000);
    expect(decodeDropped(encodeDropped(2 ** 40))).toBe(0xffff_ffff);
    expect(decodeDropped(encodeDropped(-3))).toBe(0);
    expect(decodeDropped(Buffer.from('xy'))).toBe(0);
  });
});

describe('admitsDatagram', () => {
  it('takes any datagram into an empty queue, the largest too', () => {
    expect(admitsDatagram({ datagrams: 0, bytes: 0 }, 65_507)).toBe(true);
  });

  it('drops past the datagram count or the byte bound', () => {
    expect(admitsDatagram({ datagrams: MUX_DATAGRAM_QUEUE - 1, bytes: 100 }, 1)).toBe(true);
    expect(admitsDatagram({ datagrams: MUX_DATAGRAM_QUEUE, bytes: 100 }, 1)).toBe(false);
    expect(admitsDatagram({ datagrams: 3, bytes: MUX_DATAGRAM_QUEUE_BYTES - 10 }, 10)).toBe(true);
    expect(admitsDatagram({ datagrams: 3, bytes: MUX_DATAGRAM_QUEUE_BYTES - 10 }, 11)).toBe(false);
  });
});
