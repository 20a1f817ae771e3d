import type { Socket } from 'node:net';
import { ForwarderError } from '../../../common/errors.js';
import {
  MUX_DATA_FRAME_BYTES,
  MUX_FRAME_TYPES as T,
  encodeWindow,
  decodeWindow,
  type MuxFrame,
} from './mux-codec.js';
import { ReceiveWindow, SendCredit } from './mux-window.js';

/** What a stream sends its frames through, and tells when it is over. */
export interface StreamChannel {
  send(type: number, stream: number, payload?: Buffer): void;
  forget(stream: number): void;
}

/**
 * One connection carried on a mux channel: a host socket piped to a stream, with backpressure both
 * ways. The socket is read only while the stream has credit (what the agent could not take yet
 * waits in the socket, and at most one read's remainder here); what the agent sends is written to
 * the socket, and granted back only once the socket has taken it. A half-close passes on as EOF,
 * EOF as end(); a reset either way as RESET, RESET as a reset.
 */
export class MuxStream {
  private readonly credit = new SendCredit();
  private readonly window = new ReceiveWindow();
  /** A read's bytes past the credit, sent when the agent grants more. */
  private pending: Buffer | null = null;
  private clientEnded = false;
  private eofSent = false;
  private forgotten = false;
  private piping = false;
  private answer: { resolve: () => void; reject: (error: Error) => void } | null = null;
  /** Settles when the agent answers OPEN: resolves on OPEN_OK, rejects on OPEN_FAIL or a dead channel. */
  readonly opened: Promise<void>;
  /** Resolves once the client socket has closed. */
  readonly finished: Promise<void>;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly channel: StreamChannel,
    private readonly target: string,
  ) {
    this.opened = new Promise((resolve, reject) => (this.answer = { resolve, reject }));
    // A rejection nobody awaits (the channel died while the caller was gone) is not an error.
    this.opened.catch(() => undefined);
    this.finished = new Promise((resolve) => client.once('close', resolve));
    client.on('error', () => undefined);
    client.once('close', () => {
      // Gone without finishing both directions (reset, or destroyed here): the target goes too.
      if (!this.forgotten && (!client.readableEnded || !client.writableFinished || !this.piping)) {
        this.channel.send(T.RESET, id);
        this.forget();
        this.answer?.reject(new ForwarderError(`the client went away before ${this.target} answered`));
      }
    });
  }

  /** Starts moving bytes once the stream is open; resolves once the client socket has closed. */
  pipe(): Promise<void> {
    const client = this.client;
    this.piping = true;
    if (client.destroyed) return this.finished;
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.once('end', () => {
      this.clientEnded = true;
      this.sendEofWhenDone();
    });
    client.resume();
    return this.finished;
  }

  /** A frame of this stream from the agent. */
  receive(frame: MuxFrame): void {
    switch (frame.type) {
      case T.OPEN_OK:
        this.answer?.resolve();
        return;
      case T.OPEN_FAIL:
        this.forget();
        this.answer?.reject(
          new ForwarderError(
            `the mux agent cannot connect to ${this.target}: ${frame.payload.toString('ascii')}`,
          ),
        );
        return;
      case T.DATA:
        return this.toClient(frame.payload);
      case T.WINDOW:
        return this.granted(decodeWindow(frame.payload) ?? 0);
      case T.EOF:
        if (!this.client.destroyed) this.client.end();
        return;
      case T.RESET:
        this.forget();
        this.answer?.reject(new ForwarderError(`the mux agent reset the connection to ${this.target}`));
        if (!this.client.destroyed) this.client.resetAndDestroy();
        return;
      case T.CLOSE:
        this.forget();
        if (!this.client.destroyed && !this.client.writableEnded) this.client.end();
        return;
    }
  }

  /** The channel is gone: the client is reset (its connection cannot go on elsewhere). */
  channelDead(reason: string): void {
    this.forget();
    this.answer?.reject(new ForwarderError(`the mux channel ended: ${reason}`));
    if (!this.client.destroyed) this.client.resetAndDestroy();
  }

  private forget(): void {
    if (this.forgotten) return;
    this.forgotten = true;
    this.channel.forget(this.id);
  }

  private fromClient(chunk: Buffer): void {
    if (this.forgotten) return;
    const allowed = this.credit.take(chunk.length);
    this.sendData(chunk.subarray(0, allowed));
    if (allowed < chunk.length) this.pending = chunk.subarray(allowed);
    if (this.credit.available === 0) this.client.pause();
  }

  private sendData(bytes: Buffer): void {
    for (let offset = 0; offset < bytes.length; offset += MUX_DATA_FRAME_BYTES) {
      this.channel.send(T.DATA, this.id, bytes.subarray(offset, offset + MUX_DATA_FRAME_BYTES));
    }
  }

  private granted(bytes: number): void {
    if (this.forgotten) return;
    this.credit.grant(bytes);
    if (this.pending !== null) {
      const pending = this.pending;
      const allowed = this.credit.take(pending.length);
      this.sendData(pending.subarray(0, allowed));
      this.pending = allowed < pending.length ? pending.subarray(allowed) : null;
    }
    if (this.pending === null && this.credit.available > 0 && !this.client.destroyed) this.client.resume();
    this.sendEofWhenDone();
  }

  private sendEofWhenDone(): void {
    if (!this.clientEnded || this.pending !== null || this.eofSent || this.forgotten) return;
    this.eofSent = true;
    this.channel.send(T.EOF, this.id);
  }

  private toClient(payload: Buffer): void {
    if (this.forgotten) return;
    if (!this.window.accept(payload.length)) {
      // The agent sent past its window: the stream cannot be trusted to stay bounded.
      this.channel.send(T.RESET, this.id);
      this.forget();
      this.client.resetAndDestroy();
      return;
    }
    if (this.client.destroyed || this.client.writableEnded) return;
    this.client.write(payload, (error) => {
      if (error || this.forgotten) return;
      const grant = this.window.consumed(payload.length);
      if (grant > 0) this.channel.send(T.WINDOW, this.id, encodeWindow(grant));
    });
  }
}
