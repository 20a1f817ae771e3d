import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SshEngineTarget } from './engine-target.js';
import { remoteSocketOf } from './engine-target.js';
import type { ProcessRunner, RunningProcess } from './process-runner.js';
import { sshLinkArgs, sshProbeArgs } from './ssh-link-args.js';
import { SshLinkDials } from './ssh-link-dials.js';

/** How long one link may take to come up (ssh's handshake, then the engine's first answer). */
export const SSH_LINK_READY_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 50;
const PROBE_TIMEOUT_MS = 20_000;

/** What the link reports as it goes: the forwarder's log. */
export type LinkLog = (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;

export interface SshEngineLinkOptions {
  target: SshEngineTarget;
  /** Where the engine's socket appears on this machine (in the forwarder's private state dir). */
  localSocket: string;
  /** The link's control socket, beside localSocket: the link is its master (see SshLinkDials). */
  controlPath: string;
  runner: ProcessRunner;
  /** True once the engine answers through the local socket (its ping). */
  answers: () => Promise<boolean>;
  /** The wait before the next try after `failures` failed tries in a row. */
  retryDelayMs: (failures: number) => number;
  log: LinkLog;
}

/**
 * ONE ssh connection to a remote engine that carries every engine API request and every docker CLI
 * call of the forwarder, through the remote engine socket forwarded to a local one: no connection,
 * read or exec costs an SSH handshake, and sshd's MaxStartups never sees more than this one. The ssh
 * process is the forwarder's child; when it exits (the link dropped, sshd gone, the far side silent
 * past ServerAlive) it is started again with back-off, and meanwhile calls through the socket fail
 * as transport errors, which never make the forwarder give a container up.
 */
export class SshEngineLink {
  private child: RunningProcess | null = null;
  private closed = false;
  private remoteSocket: string | null = null;
  /** How many times the link has been (re-)established. */
  established = 0;
  /** Dials addresses as the remote host does, through this link (see SshLinkDials). */
  readonly dials: SshLinkDials;

  constructor(private readonly options: SshEngineLinkOptions) {
    const { target, runner, controlPath, localSocket, log } = options;
    const socketPrefix = localSocket.replace(/\.sock$/, '');
    this.dials = new SshLinkDials({ target, runner, controlPath, socketPrefix, log });
  }

  /** The ssh process's pid while the link runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Asks which socket the remote CLI uses and brings the link up; false when it could not come up. */
  async start(): Promise<boolean> {
    const { runner, target, log } = this.options;
    const probe = await runner
      .run('ssh', sshProbeArgs(target), { timeoutMs: PROBE_TIMEOUT_MS })
      .catch(() => null);
    const printed = probe?.exitCode === 0 ? probe.stdout.trim() : null;
    this.remoteSocket = remoteSocketOf(printed);
    if (printed === null) {
      log('warn', 'cannot ask the remote docker CLI for its engine socket; using the default one', {
        remoteSocket: this.remoteSocket,
        stderr: probe?.stderr.trim() ?? null,
      });
    }
    process.once('exit', () => this.close());
    const up = await this.connect();
    if (!up) this.close();
    return up;
  }

  /** Ends the link for good: the ssh process is stopped and the local socket removed. */
  close(): void {
    this.closed = true;
    this.child?.terminate('SIGTERM');
    this.child = null;
    this.dials.close();
    rmSync(this.options.localSocket, { force: true });
    rmSync(this.options.controlPath, { force: true });
  }

  // One ssh process, up once the engine answers through it; false (and the process stopped) if not.
  private async connect(): Promise<boolean> {
    const { runner, target, localSocket, controlPath, answers } = this.options;
    rmSync(localSocket, { force: true });
    rmSync(controlPath, { force: true });
    const args = sshLinkArgs(target, localSocket, this.remoteSocket ?? '', controlPath);
    const child = runner.spawn('ssh', args);
    let stderr = '';
    let partial = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (stderr.length < 4096) stderr += text;
      // Line by line to the dials: the master says there why sshd refused a channel.
      const lines = (partial + text).split('\n');
      partial = (lines.pop() ?? '').slice(-4096);
      if (this.child === child) for (const line of lines) this.dials.heard(line);
    });
    child.stdout.resume();
    child.stdin.on('error', () => undefined);
    let exited = false;
    void child.exited.then(() => (exited = true));
    const deadline = Date.now() + SSH_LINK_READY_TIMEOUT_MS;
    while (!exited && !this.closed && Date.now() < deadline) {
      if (await answers().catch(() => false)) {
        this.child = child;
        this.established += 1;
        this.options.log('info', 'the SSH link to the engine is up', { sshPid: child.pid, localSocket });
        stderr = '';
        void child.exited.then((code) => this.dropped(child, code, stderr));
        // The first time, forwards are opened only once it is known whether the link dials.
        const probed = this.dials.linkUp();
        if (this.established === 1) await probed;
        return true;
      }
      await sleep(READY_POLL_MS);
    }
    child.terminate('SIGTERM');
    this.options.log('warn', 'the SSH link to the engine did not come up', {
      exitCode: exited ? await child.exited : null,
      stderr: stderr.trim(),
    });
    return false;
  }

  // The link went down: start it again, waiting longer after each failed try, until it is up.
  private async dropped(child: RunningProcess, code: number, stderr: string): Promise<void> {
    if (this.closed || this.child !== child) return;
    this.child = null;
    this.dials.linkDown();
    this.options.log('warn', 'the SSH link to the engine dropped; reconnecting', {
      exitCode: code,
      stderr: stderr.trim(),
    });
    for (let failures = 1; !this.closed; failures += 1) {
      await sleep(this.options.retryDelayMs(failures));
      if (this.closed || (await this.connect())) return;
    }
  }
}
