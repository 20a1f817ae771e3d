import { readdirSync, rmSync } from 'node:fs';
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ForwarderError } from '../common/errors.js';
import type { SshEngineTarget } from './engine-target.js';
import type { ProcessRunner } from './process-runner.js';
import { sshDialForwardArgs } from './ssh-link-args.js';

/** How long a forward to a container address stays once its last connection has closed. */
export const DIAL_FORWARD_IDLE_MS = 60_000;
/** How long one `ssh -O forward` / `-O cancel` through the control socket may take. */
const CONTROL_TIMEOUT_MS = 10_000;
/** How long the probe waits for the master to say how sshd answered its channel. */
const PROBE_WAIT_MS = 5_000;
/** The probe's target, as the remote host dials it: refused at once there, or prohibited by sshd. */
export const DIAL_PROBE_TARGET = { host: '127.0.0.1', port: 1 } as const;

/** How often a connect refused for a full backlog is tried again (about 3 s in all). */
const BACKLOG_RETRIES = 20;

/** What the master prints when sshd refuses a channel by its configuration (RFC 4254 reason 1). */
const PROHIBITED = /open failed: administratively prohibited/;
/** What it prints when sshd was allowed to dial and the target refused or was unreachable. */
const DIALLED = /open failed: connect failed/;

/** How a socket to a container address is opened (as net.connect's options). */
export interface DialOptions {
  allowHalfOpen: boolean;
  noDelay: boolean;
  onread?: OnReadOpts;
}

export interface SshLinkDialsOptions {
  target: SshEngineTarget;
  runner: ProcessRunner;
  /** The link's control socket (its master is the link's ssh). */
  controlPath: string;
  /** The forward sockets are `<prefix>.dial-<n>.sock`, beside the engine socket (0700 state dir). */
  socketPrefix: string;
  log: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
  /** How long an unused forward stays (DIAL_FORWARD_IDLE_MS unless given). */
  idleMs?: number;
}

interface DialForward {
  socket: Promise<string>;
  open: number;
  idle: NodeJS.Timeout | null;
}

/**
 * Dials addresses as the remote engine's host does (a container's, on its bridge network) through the
 * SSH link: one `ssh -O forward -L <socket>:<address>:<port>` through the link's control socket per
 * target, then every connection is a connect to that 0600 unix socket, which the link's ssh carries
 * as a channel (direct-tcpip) of its one connection: no process and no handshake per connection.
 * A forward is withdrawn (`-O cancel`, its socket removed) after DIAL_FORWARD_IDLE_MS without
 * connections. `usable` is true only once a probe channel showed that sshd dials for the link, and
 * until the master says sshd refused one (AllowTcpForwarding, PermitOpen): the paths that dial then
 * give way to those inside the container.
 */
export class SshLinkDials {
  readonly via = 'ssh-link' as const;
  private forwards = new Map<string, DialForward>();
  private next = 0;
  private up = false;
  private allowed = false;
  private prohibited = false;
  private probing: Promise<void> | null = null;
  private heardLines: string[] = [];

  constructor(private readonly options: SshLinkDialsOptions) {}

  /** Whether connections may be dialled through the link now. */
  get usable(): boolean {
    return this.up && this.allowed && !this.prohibited;
  }

  /** The link's master is up (a new ssh): forwards of an earlier one are gone; probe this one. */
  linkUp(): Promise<void> {
    this.reset();
    this.up = true;
    this.probing = this.probe();
    return this.probing;
  }

  /** The link's master is gone: so are its forwards. */
  linkDown(): void {
    this.up = false;
    this.reset();
  }

  /** One line of the master's stderr: a channel sshd refused by its configuration stops the dialling. */
  heard(line: string): void {
    if (this.heardLines.length < 32) this.heardLines.push(line);
    if (PROHIBITED.test(line) && !this.prohibited) {
      this.prohibited = true;
      this.options.log('warn', "sshd refuses the link's TCP channels: connections go inside the container", {
        sshSaid: line.trim(),
      });
    }
  }

  /**
   * A socket connected to `host:port` as the remote host dials it: its events as net.connect's (a
   * refusal there is an EOF here). Rejects when the forward cannot be added or its socket taken.
   */
  async dial(host: string, port: number, options: DialOptions): Promise<Socket> {
    if (!this.usable) throw new ForwarderError(`the SSH link cannot dial ${host}:${port} now`);
    const key = `${host}:${port}`;
    let forward = this.forwards.get(key);
    if (forward === undefined) {
      forward = { socket: this.addForward(host, port), open: 0, idle: null };
      this.forwards.set(key, forward);
      forward.socket.catch(() => this.forwards.get(key) === forward && this.forwards.delete(key));
    }
    const path = await forward.socket;
    const socket = await connectRetrying(path, options);
    const held = forward;
    held.open += 1;
    if (held.idle) clearTimeout(held.idle);
    held.idle = null;
    socket.once('close', () => {
      held.open -= 1;
      if (held.open === 0 && this.forwards.get(key) === held) {
        const idleMs = this.options.idleMs ?? DIAL_FORWARD_IDLE_MS;
        held.idle = setTimeout(() => void this.withdraw(key, held), idleMs);
        held.idle.unref();
      }
    });
    return socket;
  }

  /** Removes every forward's socket (the link is ending: its forwards end with its ssh). */
  close(): void {
    this.up = false;
    this.reset();
  }

  private reset(): void {
    for (const forward of this.forwards.values()) if (forward.idle) clearTimeout(forward.idle);
    this.forwards.clear();
    this.allowed = false;
    this.prohibited = false;
    removeDialSockets(this.options.socketPrefix);
  }

  private async addForward(host: string, port: number): Promise<string> {
    const path = `${this.options.socketPrefix}.dial-${(this.next += 1)}.sock`;
    rmSync(path, { force: true });
    await this.control('forward', path, host, port);
    return path;
  }

  private async withdraw(key: string, forward: DialForward): Promise<void> {
    if (this.forwards.get(key) !== forward || forward.open > 0) return;
    this.forwards.delete(key);
    const path = await forward.socket.catch(() => null);
    if (path === null) return;
    const [host = '', port = '0'] = splitKey(key);
    await this.control('cancel', path, host, Number(port)).catch(() => undefined);
    // ssh leaves a withdrawn forward's socket file behind.
    rmSync(path, { force: true });
  }

  private async control(operation: 'forward' | 'cancel', path: string, host: string, port: number) {
    const { runner, target, controlPath } = this.options;
    const args = sshDialForwardArgs(target, controlPath, operation, path, host, port);
    const result = await runner.run('ssh', args, { timeoutMs: CONTROL_TIMEOUT_MS });
    if (result.exitCode !== 0) {
      throw new ForwarderError(
        `ssh -O ${operation} ${host}:${port} through the link's control socket failed: ${result.stderr.trim() || `exit code ${result.exitCode}`}`,
      );
    }
  }

  // One channel to a port the remote host refuses at once: the master then says "connect failed"
  // (sshd dials for the link) or "administratively prohibited" (it does not). Either line decides;
  // no line in time leaves the link not dialling, which costs nothing but speed.
  private async probe(): Promise<void> {
    this.heardLines = [];
    const { host, port } = DIAL_PROBE_TARGET;
    let path: string;
    try {
      path = await this.addForward(host, port);
    } catch (error) {
      this.options.log(
        'warn',
        'cannot add a forward through the SSH link: connections go inside the container',
        {
          error: (error as Error).message,
        },
      );
      return;
    }
    const socket = connect({ path });
    socket.on('error', () => undefined);
    socket.resume();
    const deadline = Date.now() + PROBE_WAIT_MS;
    while (this.up && Date.now() < deadline) {
      if (this.heardLines.some((line) => PROHIBITED.test(line))) break;
      if (this.heardLines.some((line) => DIALLED.test(line))) {
        this.allowed = true;
        break;
      }
      await sleep(25);
    }
    socket.destroy();
    await this.control('cancel', path, host, port).catch(() => undefined);
    rmSync(path, { force: true });
    this.options.log(
      'info',
      this.allowed
        ? 'the SSH link dials container addresses'
        : 'the SSH link does not dial container addresses',
      {
        sshSaid: this.heardLines.map((line) => line.trim()).filter((line) => line.includes('open failed')),
      },
    );
  }
}

/**
 * Connects to a forward's socket. ssh listens there with a backlog of 128, and a unix socket whose
 * backlog is full refuses at once with EAGAIN (TCP would retry its SYN): a burst of connections
 * (200 at once) then waits and tries again while ssh accepts, rather than fail.
 */
async function connectRetrying(path: string, options: DialOptions): Promise<Socket> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await connectOnce(path, options);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= BACKLOG_RETRIES) throw error;
      await sleep(Math.min(5 * 2 ** attempt, 200));
    }
  }
}

function connectOnce(path: string, options: DialOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path, ...options });
    const failed = (error: Error) => reject(error);
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      // Errors after this are the caller's; one before it listens must not crash the process.
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

function splitKey(key: string): [string, string] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), key.slice(at + 1)];
}

/**
 * Removes what an SSH link leaves when its forwarder is killed: the engine socket, its `.ctl` control
 * socket and its `.dial-*.sock` container dial sockets.
 */
export function removeLinkSockets(engineSocket: string): void {
  const prefix = engineSocket.replace(/\.sock$/, '');
  rmSync(engineSocket, { force: true });
  rmSync(`${prefix}.ctl`, { force: true });
  removeDialSockets(prefix);
}

/** Removes `<prefix>.dial-*.sock` files: a stale one of a forwarder killed before it could. */
export function removeDialSockets(prefix: string): void {
  const dir = dirname(prefix);
  const start = `${basename(prefix)}.dial-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(start) && name.endsWith('.sock')) rmSync(join(dir, name), { force: true });
  }
}
