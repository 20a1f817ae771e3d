import { MUX_INITIAL_WINDOW_BYTES } from './mux-codec.js';

/**
 * The receiving side of one stream's direction: how much the peer may still send, and when to grant
 * it more. Bytes count against the window when they arrive and are given back once the consumer
 * has taken them; they are granted in batches (a WINDOW frame per half window, as SSH and HTTP/2
 * implementations do), so a bulk transfer costs one small frame per 128 KiB.
 */
export class ReceiveWindow {
  /** What the peer may still send before it waits for a grant. */
  private open: number;
  /** Taken by the consumer and not granted yet. */
  private taken = 0;

  constructor(readonly size = MUX_INITIAL_WINDOW_BYTES) {
    this.open = size;
  }

  /** What the peer may still send. */
  get available(): number {
    return this.open;
  }

  /** `bytes` arrived: false when they pass the window (the peer broke the protocol). */
  accept(bytes: number): boolean {
    if (bytes > this.open) return false;
    this.open -= bytes;
    return true;
  }

  /** The consumer took `bytes`: the grant to send now, or 0 while it would be too small to be worth a frame. */
  consumed(bytes: number): number {
    this.taken += bytes;
    if (this.taken < this.size / 2) return 0;
    const grant = this.taken;
    this.taken = 0;
    this.open += grant;
    return grant;
  }
}

/** The sending side of one stream's direction: what may be sent before the peer grants more. */
export class SendCredit {
  private credit: number;

  constructor(initial = MUX_INITIAL_WINDOW_BYTES) {
    this.credit = initial;
  }

  get available(): number {
    return this.credit;
  }

  /** How much of `wanted` bytes may go now (taken from the credit). */
  take(wanted: number): number {
    const allowed = Math.min(wanted, this.credit);
    this.credit -= allowed;
    return allowed;
  }

  /** The peer granted `bytes` more; a grant that would pass 2^32 - 1 in all is capped there. */
  grant(bytes: number): void {
    this.credit = Math.min(this.credit + bytes, 0xffff_ffff);
  }
}
