import type { Socket as DatagramSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { OnDemand, retryDelayAfterFailures } from '../on-demand.js';
import { isHelperAccepted, isHelperReply, type HelperRequest } from './helper-protocol.js';
import { LOST, startHelperProcess, type HelperSpawner, type Running } from './helper-process.js';
import { rewrapReadingInto } from './received-socket.js';
import { ReverseListeners, type ReverseListener } from './reverse-listeners.js';

export interface NamespaceHelperOptions {
  /** See RETRY_MIN_MS (on-demand.ts): a helper that cannot start is tried again after this, doubling. */
  retryMinMs?: number;
  /** Told when a start failed (or the helper died too often), with how long until the next try. */
  onStartFailed?: (reason: string, retryInMs: number) => void;
  /** Told when a helper runs. */
  onStarted?: (pid: number) => void;
  /** Told when a running helper exited on its own. */
  onExit?: (code: number | null, signal: string | null) => void;
  /** With no request and no reverse listener for this long, the helper is stopped; unset: never. */
  idleMs?: number;
  /** Told when an idle helper is stopped (the next connection starts another). */
  onIdleStop?: (idleMs: number) => void;
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

/**
 * One helper per container, in the container's network namespace, started by the first connection
 * that needs it and stopped after an idle spell with no request and no reverse listener (it costs
 * one process on the host, a node of some 45 MB, and nothing in the container; what it handed back,
 * connected TCP sockets and UDP sockets, lives on in the forwarder without it). Each connection is one message each way: the helper dials the server inside and
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
    this.lifecycle = new OnDemand(() => this.startOne(), {
      retryMinMs: options.retryMinMs,
      idleMs: options.idleMs,
      onStartFailed: (retryInMs, reason) => options.onStartFailed?.(reason, retryInMs),
      onIdleStop: (idleMs, stopped) => {
        stopped.idleStopped = true;
        options.onIdleStop?.(idleMs);
      },
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
      const socket = (await this.use({ op: 'connect', host, port })) as Socket | typeof LOST | null;
      if (socket === null) return null;
      if (socket === LOST) continue;
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
      const socket = await this.use({ op: 'udp', host: bindAddress });
      if (socket !== LOST) return socket as DatagramSocket | null;
    }
    return null;
  }

  /**
   * One request to the running helper, started first when none runs: null when none can run, LOST
   * when its channel broke (it is marked dead, and the caller may ask a fresh one). The request is
   * a use: no idle stop while it is answered.
   */
  private async use(body: DistributiveOmit<HelperRequest, 'id'>): Promise<unknown> {
    const running = await this.lifecycle.acquire();
    try {
      if (running === null) return null;
      const answer = await this.request(running, body);
      if (answer === LOST) running.alive = false;
      return answer;
    } finally {
      this.lifecycle.release();
    }
  }

  /**
   * Listens on host:port inside the container's namespace for as long as the returned listener is
   * open, each accepted socket given to `onSocket`; a helper that dies or is replaced listens again.
   * `listening` resolves once it listens, or rejects with HelperConnectError when it cannot (the
   * port is taken, the address is not there).
   */
  listen(host: string, port: number, onSocket: (socket: Socket) => void): ReverseListener {
    // An open listener is a use for as long as it is open: the helper is not stopped under it.
    void this.lifecycle.acquire();
    const listener = this.reverse.add(host, port, onSocket);
    let open = true;
    return {
      listening: listener.listening,
      close: () => {
        listener.close();
        if (open) this.lifecycle.release();
        open = false;
      },
    };
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

  private async startOne(): Promise<Running> {
    const running = await startHelperProcess(this.spawnHelper, {
      onExit: (exited, code, signal) => {
        if (!this.closed && !exited.idleStopped) this.options.onExit?.(code, signal);
        if (!this.closed) this.reverse.helperGone(exited.child.pid ?? -1);
      },
      onMessage: (from, message, handle) => this.answer(from, message, handle),
    });
    if (running.child.pid !== undefined) this.options.onStarted?.(running.child.pid);
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

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
