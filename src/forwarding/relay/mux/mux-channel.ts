import type { Socket } from 'node:net';
import { ForwarderError, errorMessage } from '../../../common/errors.js';
import type { Log } from '../../../common/log.js';
import { endStdinThenSignal, type RunningProcess } from '../../../runtime/process-runner.js';
import {
  MUX_FRAME_TYPES as T,
  MUX_MAGIC,
  MuxDecoder,
  encodeFrame,
  encodeOpen,
  type MuxFrame,
} from './mux-codec.js';
import { MuxStream, type StreamChannel } from './mux-stream.js';
import { MUX_DATAGRAM_FRAME_TYPES as D, isDatagramFrame } from './mux-datagram-codec.js';
import { MuxDatagramSession, type DatagramChannel } from './mux-datagram-session.js';
import type { ReportFrame } from '../../detect/listener-report.js';

/** A connection carried on the channel: `finished` resolves once its client has closed. */
export interface MuxRelay {
  finished: Promise<void>;
}

/** How often the host pings the agent. */
export const MUX_PING_INTERVAL_MS = 5_000;
/** A channel from which nothing came while this many pings went out is dead. */
export const MUX_PINGS_MISSED = 3;
/** How long the agent has to say MUX_MAGIC: one exec and an interpreter's start-up. */
export const MUX_START_TIMEOUT_MS = 15_000;
/** After its stdin ends, how long the agent has to exit before its exec is ended by force. */
export const MUX_EXIT_GRACE_MS = 2_000;
/** How much of what the agent says outside the protocol (stderr, a refused exec) is kept for the log. */
const SAID_LOG_BYTES = 4_096;

export interface MuxChannelOptions {
  /** Names the channel in log lines: "mux agent (python3) in container 3f2a…". */
  where: string;
  log: Log;
  pingIntervalMs?: number;
  pingsMissed?: number;
  startTimeoutMs?: number;
}

/**
 * One long-lived exec in a container (`container-programs/mux-agent/`, python3 or perl) that carries every connection of that
 * container as a stream (see mux-codec.ts). Once dead (the exec ended, its stream broke, or it
 * stopped answering pings), every stream on it is reset and it takes no more.
 */
export class MuxChannel implements StreamChannel, DatagramChannel {
  private readonly streams = new Map<number, MuxStream>();
  private readonly datagrams = new Map<number, MuxDatagramSession>();
  private nextId = 1;
  private dead: string | null = null;
  private closing: Promise<void> | null = null;
  private unanswered = 0;
  private readonly pinger: NodeJS.Timeout;
  /** Told once when the channel dies, and whenever its last stream is forgotten. */
  onIdle: (() => void) | null = null;
  private onListeners: ((frame: ReportFrame) => void) | null = null;
  /** Who takes the frames of the types added on top of the streams (see handleFrames). */
  private readonly frameHandlers = new Map<number, (frame: MuxFrame) => void>();
  private readonly deathWatchers: ((reason: string) => void)[] = [];

  private constructor(
    private readonly exec: RunningProcess,
    private readonly options: MuxChannelOptions,
    private stderr: string,
  ) {
    exec.stdin.on('error', () => undefined);
    exec.stderr.on('data', (chunk: string) => {
      if (this.stderr.length < SAID_LOG_BYTES)
        this.stderr += chunk.slice(0, SAID_LOG_BYTES - this.stderr.length);
    });
    void exec.exited.then((code) => this.die(`its exec exited with code ${code}`));
    const missed = options.pingsMissed ?? MUX_PINGS_MISSED;
    this.pinger = setInterval(() => {
      if (this.unanswered >= missed) {
        this.die(`no answer to ${missed} pings`);
        return;
      }
      this.unanswered += 1;
      this.send(T.PING, 0, Buffer.from(String(Date.now())));
    }, options.pingIntervalMs ?? MUX_PING_INTERVAL_MS).unref();
  }

  /**
   * Waits for the agent `exec` runs to say it is ready; the channel, or null (having logged why, and
   * ended the exec) when it says something else, exits or takes too long.
   */
  static async start(exec: RunningProcess, options: MuxChannelOptions): Promise<MuxChannel | null> {
    let stderr = '';
    exec.stderr.setEncoding('utf8');
    const onStderr = (chunk: string) => {
      if (stderr.length < SAID_LOG_BYTES) stderr += chunk.slice(0, SAID_LOG_BYTES - stderr.length);
    };
    exec.stderr.on('data', onStderr);
    const { said, rest } = await readMagic(exec, options.startTimeoutMs ?? MUX_START_TIMEOUT_MS);
    if (rest === null) {
      exec.stdin.on('error', () => undefined);
      exec.stdin.end();
      exec.terminate('SIGKILL');
      await exec.exited;
      // The last of stderr (a traceback, say) may come just after the exit.
      await new Promise((resolve) => {
        exec.stderr.once('end', resolve);
        setTimeout(resolve, 1_000).unref();
      });
      // An exec reports "executable file not found" on stdout, not stderr (CLI and engine API alike).
      const detail = [said.trim(), stderr.trim()].filter((text) => text !== '').join('; ');
      options.log(`the ${options.where} did not start${detail === '' ? '' : `: ${detail}`}`);
      return null;
    }
    exec.stderr.off('data', onStderr);
    const channel = new MuxChannel(exec, options, stderr);
    channel.read(rest);
    return channel;
  }

  /** False once the channel is dead or closing: the next connection starts another. */
  get alive(): boolean {
    return this.dead === null && this.closing === null;
  }

  /** Streams open on the channel now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Opens a stream to address:port in the container for `client`: resolves once the target has
   * accepted (see MuxRelay); rejects when the target refused or the channel died first. The client's first bytes wait in its socket meanwhile.
   */
  async relay(client: Socket, address: string, port: number): Promise<MuxRelay> {
    const target = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    if (!this.alive) throw new ForwarderError(`the ${this.options.where} is not running`);
    client.pause();
    const stream = new MuxStream(this.nextId++, client, this, target);
    this.streams.set(stream.id, stream);
    this.send(T.OPEN, stream.id, encodeOpen(address, port));
    await stream.opened;
    return { finished: stream.pipe() };
  }

  /**
   * Opens a datagram session to address:port in the container (see MuxDatagramSession): datagrams
   * may be sent on it at once; it ends with an 'error' when the agent cannot open it.
   */
  openDatagrams(address: string, port: number): MuxDatagramSession {
    if (!this.alive) throw new ForwarderError(`the ${this.options.where} is not running`);
    const session = new MuxDatagramSession(this.nextId++, this, address, port, this.options.log);
    this.datagrams.set(session.id, session);
    this.send(D.DGRAM_OPEN, session.id, encodeOpen(address, port));
    return session;
  }

  /**
   * Asks the agent to report the container's serving sockets: `onReport` gets every report frame, a
   * full report at once, then the changes (see mux-codec.ts).
   */
  watchListeners(onReport: (frame: ReportFrame) => void): void {
    this.onListeners = onReport;
    this.askFullReport();
  }

  /** Asks the agent for a full report of the serving sockets (it then goes on with changes). */
  askFullReport(): void {
    this.send(T.WATCH_LISTENER_CHANGES, 0);
  }

  /** Hands every frame of `types` from the agent to `handler` (reverse ports: mux-reverse.ts). */
  handleFrames(types: readonly number[], handler: (frame: MuxFrame) => void): void {
    for (const type of types) this.frameHandlers.set(type, handler);
  }

  /** Tells `watcher` (once) why the channel died, after its streams have been reset. */
  onDeath(watcher: (reason: string) => void): void {
    if (this.dead !== null) watcher(this.dead);
    else this.deathWatchers.push(watcher);
  }

  /** Whether stream `id` is open on the channel. */
  hasStream(id: number): boolean {
    return this.streams.has(id);
  }

  /**
   * Carries `socket` as stream `id`, one the agent opened and the caller has answered (a reverse
   * port's accepted connection): relayed from now on as any stream is.
   */
  adopt(id: number, socket: Socket, target: string): MuxRelay {
    if (!this.alive) throw new ForwarderError(`the ${this.options.where} is not running`);
    const stream = new MuxStream(id, socket, this, target);
    this.streams.set(id, stream);
    return { finished: stream.pipe() };
  }

  send(type: number, stream: number, payload?: Buffer, written?: () => void): void {
    if (this.dead !== null || this.exec.stdin.writableEnded) return;
    this.exec.stdin.write(encodeFrame(type, stream, payload), written && (() => written()));
  }

  forget(stream: number): void {
    if (this.streams.delete(stream) && this.streams.size === 0) this.onIdle?.();
  }

  /** A datagram session is over (see MuxDatagramSession): its frames are no longer dispatched. */
  forgetDatagrams(session: number): void {
    this.datagrams.delete(session);
  }

  /** Ends the agent, and every stream on it; resolves once its exec has ended. */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  // Ending stdin is the agent's signal to exit; the signals are for an agent (or engine) that hangs.
  private async stop(): Promise<void> {
    await endStdinThenSignal(this.exec, MUX_EXIT_GRACE_MS);
    this.die('closed');
  }

  private read(first: Buffer): void {
    const decoder = new MuxDecoder((frame) => this.dispatch(frame));
    const take = (chunk: Buffer) => {
      this.unanswered = 0;
      try {
        decoder.push(chunk);
      } catch (error) {
        this.die(errorMessage(error));
      }
    };
    if (first.length > 0) take(first);
    this.exec.stdout.on('data', take);
    this.exec.stdout.resume();
    this.exec.stdout.once('end', () => this.die('its output ended'));
  }

  private dispatch(frame: MuxFrame): void {
    const handler = this.frameHandlers.get(frame.type);
    if (handler) return handler(frame);
    if (frame.type === T.LISTENERS_FULL || frame.type === T.LISTENERS_CHANGED)
      this.onListeners?.({ full: frame.type === T.LISTENERS_FULL, payload: frame.payload });
    if (frame.stream === 0) return;
    if (isDatagramFrame(frame.type)) this.datagrams.get(frame.stream)?.receive(frame);
    else this.streams.get(frame.stream)?.receive(frame);
  }

  private die(reason: string): void {
    if (this.dead !== null) return;
    this.dead = reason;
    clearInterval(this.pinger);
    if (this.closing === null) {
      const stderr = this.stderr.trim();
      this.options.log(`the ${this.options.where} ended: ${reason}${stderr === '' ? '' : `: ${stderr}`}`);
      // Hung (no answer to pings) or broken: its exec is of no more use.
      this.exec.stdin.end();
      this.exec.terminate('SIGKILL');
    }
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) stream.channelDead(reason);
    for (const session of [...this.datagrams.values()]) session.channelDead(reason);
    for (const watcher of this.deathWatchers.splice(0)) watcher(reason);
    this.onIdle?.();
  }
}

// The agent's first bytes: MUX_MAGIC, then frames (returned as `rest`). `rest` is null when it
// exits, says something else, or takes too long; `said` is what it said instead.
function readMagic(exec: RunningProcess, timeoutMs: number): Promise<{ said: string; rest: Buffer | null }> {
  return new Promise((resolve) => {
    let seen = Buffer.alloc(0);
    let settled = false;
    const done = (rest: Buffer | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      exec.stdout.off('data', onData);
      exec.stdout.pause();
      resolve({ said: seen.subarray(0, SAID_LOG_BYTES).toString('utf8'), rest });
    };
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const magic = Buffer.from(MUX_MAGIC, 'latin1');
      if (seen.length < magic.length) {
        if (!magic.subarray(0, seen.length).equals(seen)) done(null);
        return;
      }
      done(seen.subarray(0, magic.length).equals(magic) ? seen.subarray(magic.length) : null);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    exec.stdout.on('data', onData);
    void exec.exited.then(() => setTimeout(() => done(null), 100));
  });
}
