import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Log } from '../../../common/log.js';
import type { SessionSocket } from '../udp-relay.js';
import type { MuxFrame } from './mux-codec.js';
import {
  MUX_DATAGRAM_FRAME_TYPES as D,
  admitsDatagram,
  decodeDropped,
  type DatagramQueue,
} from './mux-datagram-codec.js';

/** What a datagram session sends its frames through, and tells when it is over. */
export interface DatagramChannel {
  /** `written` is called once the frame has gone to the agent's stdin (never on a dead channel). */
  send(type: number, stream: number, payload?: Buffer, written?: () => void): void;
  forgetDatagrams(session: number): void;
}

/**
 * One UDP client's session carried on a mux channel to a server in the container (see the datagram
 * frames in mux-codec.ts). It is what the UDP relay takes for a session's socket: `send` passes one
 * datagram on (dropped and counted when the channel's writes hold a full queue of this session's),
 * 'message' brings each reply, 'error' says the session is over (the agent could not open it, its
 * socket failed, or the channel died). Drops are logged once the session ends.
 */
export class MuxDatagramSession extends EventEmitter implements SessionSocket {
  private readonly queue: DatagramQueue = { datagrams: 0, bytes: 0 };
  private droppedHere = 0;
  private droppedInContainer = 0;
  private ended = false;

  constructor(
    readonly id: number,
    private readonly channel: DatagramChannel,
    readonly address: string,
    readonly port: number,
    private readonly log: Log,
  ) {
    super();
  }

  /** Whether the session is over (closed here, or ended by the agent or the channel). */
  get closed(): boolean {
    return this.ended;
  }

  /** Datagrams dropped so far: here (the channel's writes backed up) and in the container. */
  get dropped(): { here: number; inContainer: number } {
    return { here: this.droppedHere, inContainer: this.droppedInContainer };
  }

  /** Passes one datagram to the server (the session's own target: `port` and `address` are its). */
  send(message: Buffer, _port: number, _address: string, callback?: (error: Error | null) => void): void {
    if (this.ended) return callback?.(null);
    if (!admitsDatagram(this.queue, message.length)) {
      this.droppedHere += 1;
      return callback?.(null);
    }
    this.queue.datagrams += 1;
    this.queue.bytes += message.length;
    this.channel.send(D.DATAGRAM, this.id, message, () => {
      this.queue.datagrams -= 1;
      this.queue.bytes -= message.length;
    });
    callback?.(null);
  }

  /** A frame of this session from the agent. */
  receive(frame: MuxFrame): void {
    switch (frame.type) {
      case D.DATAGRAM:
        this.emit('message', frame.payload, {
          address: this.address,
          port: this.port,
          family: isIP(this.address) === 6 ? 'IPv6' : 'IPv4',
          size: frame.payload.length,
        });
        return;
      case D.DGRAM_DROPPED:
        this.droppedInContainer += decodeDropped(frame.payload);
        return;
      case D.DGRAM_OPEN_FAIL:
        return this.fail(`the mux agent cannot send to ${this.target}: ${frame.payload.toString('ascii')}`);
      case D.DGRAM_CLOSE:
        return this.fail(
          `the mux agent ended the session to ${this.target}: ${frame.payload.toString('ascii')}`,
        );
    }
  }

  /** The channel is gone: so is the session (the client's next datagram opens another). */
  channelDead(reason: string): void {
    this.fail(`the mux channel ended: ${reason}`);
  }

  /** Ends the session here (idle, or its client made way): the agent closes its socket. */
  close(): void {
    if (this.ended) return;
    this.channel.send(D.DGRAM_CLOSE, this.id);
    this.end();
  }

  private get target(): string {
    return `${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.port}`;
  }

  private fail(reason: string): void {
    if (this.ended) return;
    this.end();
    // No listener yet (the relay has not taken the session): it finds it closed.
    if (this.listenerCount('error') > 0) this.emit('error', new Error(reason));
  }

  private end(): void {
    this.ended = true;
    this.channel.forgetDatagrams(this.id);
    const { here, inContainer } = this.dropped;
    if (here + inContainer > 0) {
      this.log('datagrams of a UDP session over the mux channel were dropped', {
        target: this.target,
        droppedOnHost: here,
        droppedInContainer: inContainer,
      });
    }
    this.emit('ended');
  }
}
