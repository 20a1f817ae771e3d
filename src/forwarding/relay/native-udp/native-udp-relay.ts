import { ForwarderError } from '../../../common/errors.js';
import {
  endStdinThenSignal,
  type ProcessRunner,
  type RunningProcess,
} from '../../../runtime/process-runner.js';

/** How long the program may take to bind and say so. */
const BIND_REPLY_MS = 5_000;
/** How long it has to exit once its standard input closed, before SIGTERM (then SIGKILL). */
const EXIT_GRACE_MS = 1_000;

/** What the program's first line says (see udp-relay.c). */
export type BindReply =
  | { kind: 'bound'; port: number; addresses: string[] }
  | { kind: 'taken'; code: string }
  | { kind: 'error'; address: string; code: string };

/** Pure: the program's first line, or null for a line it never prints. */
export function parseBindReply(line: string): BindReply | null {
  const [kind, ...rest] = line.trim().split(' ');
  if (kind === 'bound' && rest.length >= 2 && rest.length <= 3) {
    const port = Number(rest[0]);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) return null;
    return { kind, port, addresses: rest.slice(1) };
  }
  if (kind === 'taken' && rest.length === 1) return { kind, code: rest[0] ?? '' };
  if (kind === 'error' && rest.length === 2) return { kind, address: rest[0] ?? '', code: rest[1] ?? '' };
  return null;
}

/** Pure: the command that tells the program where datagrams go now. */
export function targetCommand(target: { address: string; port: number } | null): string {
  return target === null ? 'none\n' : `target ${target.address} ${target.port}\n`;
}

/** A running native relay: its bound host sockets, and where it sends. */
export interface NativeUdpRelay {
  readonly port: number;
  readonly addresses: string[];
  /** Where datagrams go from now on (null: dropped); a change ends every session. */
  setTarget(target: { address: string; port: number } | null): void;
  /** Resolves with its exit code once it has exited, for whatever reason. */
  readonly exited: Promise<number>;
  /** Ends it (stdin closed, then signals); its sockets are closed once this resolves. */
  close(): Promise<void>;
}

export interface NativeUdpRelayOptions {
  bindAddress: string;
  port: number;
  idleMs: number;
  maxSessions: number;
  /** Told what the program writes on stderr. */
  onStderr?: (text: string) => void;
}

/**
 * Starts the native relay (program) on bindAddress:port: resolves once it has bound, to null when the
 * port is taken; a refusal of another kind, or a program that says nothing, is a ForwarderError.
 */
export async function startNativeUdpRelay(
  program: string,
  runner: ProcessRunner,
  options: NativeUdpRelayOptions,
): Promise<NativeUdpRelay | null> {
  const child = runner.spawn(program, [
    options.bindAddress,
    String(options.port),
    String(options.idleMs),
    String(options.maxSessions),
  ]);
  child.stdin.on('error', () => {});
  child.stderr.on('data', (chunk: Buffer) => options.onStderr?.(chunk.toString('utf8')));
  const reply = await firstLine(child);
  if (reply === null || reply.kind !== 'bound') {
    await endStdinThenSignal(child, EXIT_GRACE_MS);
    if (reply?.kind === 'taken') return null;
    const shown = options.bindAddress.includes(':') ? `[${options.bindAddress}]` : options.bindAddress;
    if (reply === null) {
      // Not the port's fault: the program does not run here (a noexec state dir, say).
      throw new ForwarderError(`the native UDP relay ${program} exited or said nothing`, {
        code: 'FORWARDER_FAILED',
        description: 'Its UDP forwards relay in-process.',
      });
    }
    throw new ForwarderError(`cannot bind UDP ${shown}:${options.port}: ${reply.address}: ${reply.code}`, {
      code: 'PORT_UNAVAILABLE',
      description: `The native UDP relay (${program}) could not bind ${shown}:${options.port}.`,
    });
  }
  child.stdout.resume();
  let sent = '';
  let closing: Promise<void> | undefined;
  return {
    port: reply.port,
    addresses: reply.addresses,
    exited: child.exited,
    setTarget(target) {
      const command = targetCommand(target);
      if (command === sent || closing) return;
      sent = command;
      child.stdin.write(command);
    },
    close: () => (closing ??= endStdinThenSignal(child, EXIT_GRACE_MS)),
  };
}

/** The program's first line, parsed; null if it exits or stays silent for BIND_REPLY_MS. */
function firstLine(child: RunningProcess): Promise<BindReply | null> {
  return new Promise((resolve) => {
    let text = '';
    const done = (reply: BindReply | null) => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(reply);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end >= 0) done(parseBindReply(text.slice(0, end)));
    };
    const timer = setTimeout(() => done(null), BIND_REPLY_MS);
    child.stdout.on('data', onData);
    void child.exited.then(() => setImmediate(() => done(null)));
  });
}
