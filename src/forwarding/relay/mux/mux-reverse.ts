import { connect } from 'node:net';
import { ForwarderError, errorMessage } from '../../../common/errors.js';
import { retryDelayAfterFailures } from '../on-demand.js';
import { ReverseListeners, type ReverseListener } from '../netns/reverse-listeners.js';
import type { MuxFrame } from './mux-codec.js';
import type { MuxChannel } from './mux-channel.js';
import {
  MUX_REVERSE_FRAME_TYPES as R,
  decodeAccept,
  encodeListen,
  isAgentStream,
  listenFailureErrno,
} from './mux-reverse-codec.js';

/**
 * How long the host's server has to accept a reverse port's connection before the container's is
 * reset: a loopback connect is answered at once (accepted or refused) unless the server's backlog
 * is full.
 */
export const MUX_REVERSE_CONNECT_TIMEOUT_MS = 10_000;

/** A listen the agent refused: `errno` is the name its reason starts with (EADDRINUSE, …). */
export class MuxListenError extends ForwarderError {
  constructor(
    message: string,
    readonly errno: string | null,
  ) {
    super(message);
  }
}

export interface MuxReverseOptions {
  /** The container's channel, started when none runs and kept running from then on (OnDemandMux.hold). */
  hold: () => Promise<MuxChannel | null>;
  /** Names the container in messages: "container 3f2a…". */
  where: string;
  /** See RETRY_MIN_MS (on-demand.ts): the first wait before a listen is asked again. */
  retryMinMs?: number;
}

/** A connection an agent's listener accepted: stream `stream` of `channel`, not answered yet. */
interface Accepted {
  channel: MuxChannel;
  stream: number;
}

/**
 * Reverse ports over the container's mux channel: the agent listens on the container's loopback
 * (LISTEN), and each connection it accepts there comes as a stream it opened (ACCEPT); this side
 * connects it to the host port the listener was asked for, and only that, and answers ACCEPT_OK
 * (then relays it as any stream, windows, half-closes and resets included) or ACCEPT_FAIL (the
 * container's connection is reset). A channel that dies takes its listeners with it: each is asked
 * of the next channel, at once and then after a back-off (see ReverseListeners).
 */
export class MuxReverse {
  private readonly listeners: ReverseListeners<Accepted>;
  /** Listener ids, never reused on any channel: an UNLISTEN meant for a dead channel's cannot hit another. */
  private nextListenId = 1;
  private readonly generations = new WeakMap<MuxChannel, number>();
  private nextGeneration = 1;
  private readonly pending = new Map<
    number,
    { channel: MuxChannel; resolve: () => void; reject: (error: Error) => void }
  >();
  private current: MuxChannel | null = null;

  constructor(private readonly options: MuxReverseOptions) {
    this.listeners = new ReverseListeners<Accepted>({
      send: (host, port) => this.listenOnce(host, port),
      stop: (listenId) => this.unlisten(listenId),
      retryMs: (failures) => retryDelayAfterFailures(failures, options.retryMinMs),
    });
  }

  /**
   * Listens on `address`:`port` in the container for as long as the returned listener is open; each
   * connection accepted there is connected to `host`:`hostPort` on this side. `listening` resolves
   * once the agent listens, or rejects with why it cannot (MuxListenError: the agent's reason).
   */
  listen(address: string, port: number, host: string, hostPort: number): ReverseListener {
    return this.listeners.add(address, port, (accepted) => this.connectHost(accepted, host, hostPort));
  }

  /** Stops every listener. */
  close(): void {
    this.listeners.closeAll();
  }

  private async listenOnce(address: string, port: number): Promise<{ id: number; pid: number }> {
    const channel = await this.options.hold();
    if (channel === null || !channel.alive) {
      throw new ForwarderError(`no mux channel can run in ${this.options.where} (python3 or perl is needed)`);
    }
    const generation = this.attach(channel);
    const id = this.nextListenId++;
    const payload = encodeListen(address, port);
    await new Promise<void>((resolve, reject) => {
      this.pending.set(id, { channel, resolve, reject });
      channel.send(R.LISTEN, id, payload);
    });
    return { id, pid: generation };
  }

  private async unlisten(listenId: number): Promise<void> {
    if (this.current?.alive) this.current.send(R.UNLISTEN, listenId);
  }

  /** Takes the reverse frames of a channel met for the first time; its death re-asks its listeners. */
  private attach(channel: MuxChannel): number {
    const known = this.generations.get(channel);
    if (known !== undefined) return known;
    const generation = this.nextGeneration++;
    this.generations.set(channel, generation);
    this.current = channel;
    channel.handleFrames([R.LISTEN_OK, R.LISTEN_FAIL, R.ACCEPT], (frame) => this.fromAgent(channel, frame));
    channel.onDeath((reason) => {
      for (const [id, waiting] of this.pending) {
        if (waiting.channel !== channel) continue;
        this.pending.delete(id);
        waiting.reject(new ForwarderError(`the mux channel ended before it listened: ${reason}`));
      }
      this.listeners.helperGone(generation);
    });
    return generation;
  }

  private fromAgent(channel: MuxChannel, frame: MuxFrame): void {
    if (frame.type === R.ACCEPT) return this.accepted(channel, frame);
    const waiting = this.pending.get(frame.stream);
    if (waiting?.channel !== channel) return;
    this.pending.delete(frame.stream);
    if (frame.type === R.LISTEN_OK) return waiting.resolve();
    const reason = frame.payload.toString('ascii');
    waiting.reject(new MuxListenError(`the mux agent cannot listen: ${reason}`, listenFailureErrno(reason)));
  }

  private accepted(channel: MuxChannel, frame: MuxFrame): void {
    const listenerId = decodeAccept(frame.payload);
    const fail = (reason: string) => channel.send(R.ACCEPT_FAIL, frame.stream, Buffer.from(reason, 'ascii'));
    if (!isAgentStream(frame.stream) || channel.hasStream(frame.stream)) return fail('bad stream id');
    const generation = this.generations.get(channel) ?? -1;
    if (
      listenerId === null ||
      !this.listeners.accepted(generation, listenerId, { channel, stream: frame.stream })
    ) {
      fail('not listening');
    }
  }

  // Only the host port the listener was asked for is ever dialled: the agent names a listener, not a port.
  private connectHost({ channel, stream }: Accepted, host: string, hostPort: number): void {
    const target = `${host}:${hostPort}`;
    const socket = connect({ host, port: hostPort, allowHalfOpen: true });
    const timer = setTimeout(
      () => socket.destroy(new Error(`ETIMEDOUT (${target} did not accept in time)`)),
      MUX_REVERSE_CONNECT_TIMEOUT_MS,
    ).unref();
    socket.once('error', (error) => {
      clearTimeout(timer);
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code && !errorMessage(error).startsWith(code)
          ? `${code} (${errorMessage(error)})`
          : errorMessage(error);
      channel.send(R.ACCEPT_FAIL, stream, Buffer.from(reason, 'ascii'));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      if (!channel.alive) {
        socket.resetAndDestroy();
        return;
      }
      socket.setNoDelay(true);
      channel.send(R.ACCEPT_OK, stream);
      channel.adopt(stream, socket, target);
    });
  }
}
