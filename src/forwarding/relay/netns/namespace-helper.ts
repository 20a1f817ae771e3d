import type { ChildProcess } from 'node:child_process';
import type { Socket as DatagramSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { OnDemand, retryDelayAfterFailures } from '../on-demand.js';
import { readInto } from '../read-into.js';
import { isHelperAccepted, isHelperReady, isHelperReply, type HelperRequest } from './helper-protocol.js';
import { ReverseListeners, type ReverseListener } from './reverse-listeners.js';

/** How long a started helper has to say it runs in the namespace (nsenter, then node's start-up). */
export const HELPER_START_TIMEOUT_MS = 10_000;
/** After close(), how long the helper has to exit before SIGKILL. */
export const HELPER_EXIT_GRACE_MS = 2_000;

/** Starts one helper process with an IPC channel (see netns-helper.ts); null when it may not run now. */
export type HelperSpawner = () => Promise<ChildProcess | null>;

export interface NamespaceHelperOptions {
  /** See RETRY_MIN_MS (on-demand.ts): a helper that cannot start is tried again after this, doubling. */
  retryMinMs?: number;
  /** Told when a start failed (or the helper died too often), with how long until the next try. */
  onStartFailed?: (reason: string, retryInMs: number) => void;
  /** Told when a helper runs. */
  onStarted?: (pid: number) => void;
  /** Told when a running helper exited on its own. */
  onExit?: (code: number | null, signal: string | null) => void;
}

/** A connection the helper could not make: the server is not there (the client is reset). */
export class HelperConnectError extends Error {
  override name = 'HelperConnectError';
  constructor(
    message: string,
    readonly errno: string | null,
  ) {
    super(message);
  }
}

/** The helper's channel broke before it answered. */
const LOST = Symbol('lost');

interface Pending {
  resolve: (handle: unknown) => void;
  reject: (error: Error) => void;
  /** A listen or close is answered without a socket. */
  bare?: boolean;
}

interface Running {
  child: ChildProcess;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  alive: boolean;
  close(): Promise<void>;
}

/**
 * One helper per container, in the container's network namespace, started by the first connection
 * that needs it and kept for the forwarder's life (it costs one process on the host and nothing in
 * the container). Each connection is one message each way: the helper dials the server inside and
 * hands the connected socket back, which the forwarder then relays its client to directly. A helper
 * that cannot start or dies gives its connections to the next path (agent, exec) and is started
 * again: at once a few times after exits of its own, else after a back-off.
 */
export class NamespaceHelper {
  private readonly lifecycle: OnDemand<Running>;
  private nextId = 1;
  private closed = false;
  private readonly reverse = new ReverseListeners({
    send: (host, port) => this.listenOnce(host, port),
    stop: (listenId) => this.closeListener(listenId),
    retryMs: (failures) => retryDelayAfterFailures(failures, this.options.retryMinMs),
  });

  constructor(
    private readonly spawnHelper: HelperSpawner,
    private readonly options: NamespaceHelperOptions = {},
  ) {
    // Kept for the forwarder's life: never stopped for idleness.
    this.lifecycle = new OnDemand(() => this.startOne(), {
      retryMinMs: options.retryMinMs,
      onStartFailed: (retryInMs, reason) => options.onStartFailed?.(reason, retryInMs),
    });
  }

  /** False while a failed start's back-off lasts, or once closed: connections take the next path. */
  get usable(): boolean {
    return this.lifecycle.usable;
  }

  /** The running helper's pid, or null. */
  get pid(): number | null {
    return this.lifecycle.live?.child.pid ?? null;
  }

  /**
   * Connects to host:port inside the container's namespace. Resolves to the connected socket (its
   * bytes already flowing to `destination`, whose end is the caller's), to null when no helper can
   * run (the caller takes the next path), and rejects with HelperConnectError when the server
   * refused or is not there.
   */
  async connect(host: string, port: number, destination?: Socket): Promise<Socket | null> {
    // A helper that died a moment ago may not have been seen to exit yet: its channel is broken, and
    // the connection asks a fresh one, once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const running = await this.lifecycle.ensure();
      if (running === null) return null;
      const socket = (await this.request(running, { op: 'connect', host, port })) as Socket | typeof LOST;
      if (socket === LOST) {
        running.alive = false;
        continue;
      }
      if (destination === undefined) return socket;
      return rewrapReadingInto(socket, destination);
    }
    return null;
  }

  /**
   * A UDP socket bound to `bindAddress`, port 0, in the container's namespace: what it sends to a
   * server on the container's loopback gets there, and the replies come back to it. Null when no
   * helper can run; rejects with HelperConnectError when the helper could not bind it.
   */
  async datagramSocket(bindAddress: string): Promise<DatagramSocket | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const running = await this.lifecycle.ensure();
      if (running === null) return null;
      const socket = await this.request(running, { op: 'udp', host: bindAddress });
      if (socket !== LOST) return socket as DatagramSocket;
      running.alive = false;
    }
    return null;
  }

  /**
   * Listens on host:port inside the container's namespace for as long as the returned listener is
   * open, each accepted socket given to `onSocket`; a helper that dies or is replaced listens again.
   * `listening` resolves once it listens, or rejects with HelperConnectError when it cannot (the
   * port is taken, the address is not there).
   */
  listen(host: string, port: number, onSocket: (socket: Socket) => void): ReverseListener {
    return this.reverse.add(host, port, onSocket);
  }

  /** One listen request to the running helper: its id (the accepted sockets carry it), or null. */
  private async listenOnce(host: string, port: number): Promise<{ id: number; pid: number } | null> {
    const running = this.closed ? null : await this.lifecycle.ensure();
    if (running === null) return null;
    const id = this.nextId;
    const result = await this.request(running, { op: 'listen', host, port });
    return result === LOST ? null : { id, pid: running.child.pid ?? -1 };
  }

  private async closeListener(listenId: number): Promise<void> {
    const running = this.lifecycle.live;
    if (running === null) return;
    await this.request(running, { op: 'close', listen: listenId }).catch(() => undefined);
  }

  private request(running: Running, body: DistributiveOmit<HelperRequest, 'id'>): Promise<unknown> {
    const id = this.nextId++;
    const request = { id, ...body } as HelperRequest;
    return new Promise((resolve, reject) => {
      if (!running.child.connected) {
        resolve(LOST);
        return;
      }
      running.pending.set(id, { resolve, reject, bare: body.op === 'listen' || body.op === 'close' });
      running.child.send(request, (error) => {
        if (!error) return;
        running.pending.delete(id);
        resolve(LOST);
      });
    });
  }

  /** Ends the helper, or the one being started, and keeps any other from starting. */
  close(): Promise<void> {
    this.closed = true;
    this.reverse.closeAll();
    return this.lifecycle.close();
  }

  private async stop(running: Running | null): Promise<void> {
    if (running === null) return;
    const { child } = running;
    if (child.exitCode === null && child.signalCode === null) {
      if (child.connected) child.disconnect();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_EXIT_GRACE_MS);
      await running.exited;
      clearTimeout(timer);
    }
  }

  private async startOne(): Promise<Running | null> {
    const child = await this.spawnHelper();
    if (child === null) throw new Error('the container process is no longer the one proven');
    const running: Running = {
      child,
      pending: new Map(),
      alive: true,
      exited: Promise.resolve(),
      close: () => this.stop(running),
    };
    running.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.alive = false;
        for (const pending of running.pending.values()) pending.resolve(LOST);
        running.pending.clear();
        if (!this.closed) this.options.onExit?.(code, signal);
        if (!this.closed) this.reverse.helperGone(child.pid ?? -1);
        resolve();
      });
    });
    child.on('error', () => undefined);
    child.once('disconnect', () => {
      running.alive = false;
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 2_048) stderr += chunk;
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (reason: string) => {
        clearTimeout(timer);
        child.off('message', onReady);
        if (running.alive) child.kill('SIGKILL');
        reject(new Error(`${reason}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`));
      };
      const timer = setTimeout(
        () => fail(`the helper did not start within ${HELPER_START_TIMEOUT_MS} ms`),
        HELPER_START_TIMEOUT_MS,
      );
      const onReady = (message: unknown) => {
        if (!isHelperReady(message)) return;
        clearTimeout(timer);
        child.off('message', onReady);
        resolve();
      };
      child.on('message', onReady);
      void running.exited.then(() => fail('the helper exited before it was ready'));
    });
    child.on('message', (message: unknown, handle: unknown) => this.answer(running, message, handle));
    if (child.pid !== undefined) this.options.onStarted?.(child.pid);
    return running;
  }

  private answer(running: Running, message: unknown, handle: unknown): void {
    if (isHelperAccepted(message)) {
      if (!(handle instanceof Socket)) return;
      handle.allowHalfOpen = true;
      if (!this.reverse.accepted(running.child.pid ?? -1, message.accepted, handle)) handle.destroy();
      return;
    }
    if (!isHelperReply(message)) return;
    const pending = running.pending.get(message.id);
    const socket = handle as Socket | DatagramSocket | undefined;
    if (!pending) {
      if (socket instanceof Socket) socket.destroy();
      else socket?.close();
      return;
    }
    running.pending.delete(message.id);
    if (pending.bare === true && message.error === undefined) {
      if (socket instanceof Socket) socket.destroy();
      else socket?.close();
      pending.resolve(null);
      return;
    }
    if (message.error !== undefined || socket === undefined) {
      pending.reject(new HelperConnectError(message.error ?? 'no socket came back', message.code ?? null));
      return;
    }
    // Node makes the received socket end its writing side when the server's does: the client's
    // bytes may still be on their way, so only the caller ends it (see relayConnection).
    if (socket instanceof Socket) socket.allowHalfOpen = true;
    pending.resolve(socket);
  }
}

/**
 * The socket Node made of the received descriptor reads into a fresh buffer each time and through a
 * stream; the direct and agent paths read into one reused buffer and write each read straight to
 * the client (see readInto), which measured about a third faster here for bulk downloads. The same
 * handle is taken over by a socket that reads that way: the received one has asked for its first
 * read, but no byte is read before the event loop turns, and by then the handle reports to the new
 * socket. The server's half-close is the caller's to pass on, as on the other paths.
 */
function rewrapReadingInto(received: Socket, destination: Socket): Socket {
  const internal = received as unknown as { _handle: unknown };
  const handle = internal._handle;
  if (handle === null || handle === undefined) {
    received.pipe(destination, { end: false });
    return received;
  }
  internal._handle = null;
  const socket: Socket = new Socket({
    handle,
    readable: true,
    writable: true,
    allowHalfOpen: true,
    onread: readInto(destination, () => socket),
  } as ConstructorParameters<typeof Socket>[0]);
  return socket;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
