import { describe, expect, it } from 'vitest';
import { MUX_INITIAL_WINDOW_BYTES } from '../../../../../src/forwarding/relay/mux/mux-codec.js';
import { ReceiveWindow, SendCredit } from '../../../../../src/forwarding/relay/mux/mux-window.js';

describe('ReceiveWindow', () => {
  it('starts with the initial window and refuses bytes past it', () => {
    const window = new ReceiveWindow();
    expect(window.available).toBe(MUX_INITIAL_WINDOW_BYTES);
    expect(window.accept(MUX_INITIAL_WINDOW_BYTES)).toBe(true);
    expect(window.available).toBe(0);
    expect(window.accept(1)).toBe(false);
  });

  it('grants what the consumer took, in batches of at least half a window', () => {
    const window = new ReceiveWindow(1000);
    expect(window.accept(1000)).toBe(true);
    expect(window.consumed(300)).toBe(0);
    expect(window.available).toBe(0);
    expect(window.consumed(200)).toBe(500);
    expect(window.available).toBe(500);
    expect(window.consumed(499)).toBe(0);
    expect(window.consumed(1)).toBe(500);
    expect(window.available).toBe(1000);
  });

  it('never lets more be in flight than the window, however grants and data interleave', () => {
    const window = new ReceiveWindow(1000);
    let inFlight = 0;
    for (let round = 0; round < 100; round++) {
      const sent = window.available;
      expect(window.accept(sent)).toBe(true);
      inFlight += sent;
      expect(inFlight).toBeLessThanOrEqual(1000);
      const taken = Math.min(inFlight, 137);
      inFlight -= taken;
      window.consumed(taken);
    }
  });
});

describe('SendCredit', () => {
  it('lets through what the credit allows, and more once granted', () => {
    const credit = new SendCredit(100);
    expect(credit.take(60)).toBe(60);
    expect(credit.take(60)).toBe(40);
    expect(credit.take(1)).toBe(0);
    credit.grant(50);
    expect(credit.available).toBe(50);
  });

  it('caps a hostile grant at what a u32 can say', () => {
    const credit = new SendCredit(0);
    credit.grant(0xffff_ffff);
    credit.grant(0xffff_ffff);
    expect(credit.available).toBe(0xffff_ffff);
  });
});
