import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6, type OnReadOpts, type Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { ForwarderError, errorMessage } from '../../../common/errors.js';
import type { Docker } from '../../../runtime/docker.js';
import { endStdinThenSignal, type RunningProcess } from '../../../runtime/process-runner.js';
import { readInto } from '../read-into.js';
import { HOST_DIALER, type ContainerDialer } from '../container-dialer.js';
import {
  AGENT_STATUS_CONNECTED,
  AGENT_TOKEN_BYTES,
  agentArgv,
  encodeAgentHeader,
  parseAgentReady,
  type AgentInterpreter,
} from './agent-protocol.js';
import { shortId } from '../../../common/short-id.js';
import type { Log } from '../../../common/log.js';

/** One relay agent in a container: a listener on the container's address that reaches its loopback. */
export interface RelayAgent {
  /** The container address the agent listens on. */
  readonly host: string;
  readonly port: number;
  /**
   * Opens a connection to address:port inside the container, header already sent. With a
   * `destination`, everything the target sends is written to it as it comes (see readInto), and the
   * socket's 'end' says when the target is done; without, the socket is paused for the caller to read.
   */
  connect(address: string, port: number, destination?: Socket): Promise<Socket>;
  /** False once the agent has exited or been closed: start another, or fall back to exec. */
  readonly alive: boolean;
  /** Ends the agent (and every connection through it); resolves once its exec has ended. */
  close(): Promise<void>;
}

/** What startRelayAgent needs besides the container. */
export interface RelayAgentOptions {
  /** The container's address on a network the host can route to (see directAddresses). */
  containerAddress: string;
  /** The only peer the agent accepts (the host's address toward the container), or null for any. */
  hostAddress: string | null;
  interpreter: AgentInterpreter;
  log: Log;
  /** How the forwarder dials the agent: from the host when absent, or through the SSH link. */
  dialer?: ContainerDialer;
}

/** How long the agent has to report its port: one exec and an interpreter's start-up. */
export const AGENT_START_TIMEOUT_MS = 15_000;
/** How long a connection through the agent may take to be answered with its status byte. */
export const AGENT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * After its stdin ends, how long the agent has to exit before its exec is ended by force (the
 * `docker exec` client signalled, or the engine connection dropped).
 */
export const AGENT_EXIT_GRACE_MS = 2_000;
/** How much of the agent's stderr is passed to the log. */
export const AGENT_STDERR_LOG_BYTES = 4_096;
/** After the agent exits, how long its stderr may take to reach its end. */
const AGENT_STDERR_WAIT_MS = 1_000;

/** The host's own address on the route to `containerAddress`, or null when it has no such route. */
export function findHostAddress(containerAddress: string): Promise<string | null> {
  // Connecting a UDP socket sends nothing: it only asks the kernel which route, and so which source
  // address, a TCP connection to the container would use.
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(containerAddress) ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(null);
    });
    socket.connect(9, containerAddress, () => {
      const { address } = socket.address();
      socket.close();
      // An unspecified source address means no route the kernel would use for TCP.
      resolve(address === '0.0.0.0' || address === '::' ? null : address);
    });
  });
}

/** Starts the agent, or returns null when the container has no python3/perl or the host cannot reach the container's address (then the caller falls back to exec). */
export async function startRelayAgent(
  docker: Docker,
  containerId: string,
  options: RelayAgentOptions,
): Promise<RelayAgent | null> {
  const where = `relay agent (${options.interpreter}) in container ${shortId(containerId)}`;
  const token = randomBytes(AGENT_TOKEN_BYTES);
  let exec: RunningProcess;
  try {
    exec = docker.execStream(
      containerId,
      agentArgv(options.interpreter, options.containerAddress, options.hostAddress),
    );
  } catch (error) {
    options.log(`cannot start the ${where}: ${errorMessage(error)}`);
    return null;
  }
  const dialer = options.dialer ?? HOST_DIALER;
  const agent = new DockerRelayAgent(exec, options.containerAddress, token, where, options.log, dialer);
  exec.stdin.on('error', () => {});
  exec.stdin.write(`${token.toString('hex')}\n`);
  const { port, said } = await readPort(exec);
  if (port === null) {
    await agent.close();
    await agent.stderrDone;
    // An exec reports "executable file not found" on stdout, not stderr (CLI and engine API alike).
    const detail = [said.trim(), agent.stderrText()].filter((text) => text !== '').join('; ');
    options.log(`the ${where} did not start${detail === '' ? '' : `: ${detail}`}`);
    return null;
  }
  agent.port = port;
  try {
    const ping = await agent.connect('127.0.0.1', 0);
    ping.destroy();
  } catch (error) {
    await agent.close();
    options.log(
      `the host cannot use the ${where} at ${options.containerAddress}:${port}: ${errorMessage(error)}`,
    );
    return null;
  }
  return agent;
}

class DockerRelayAgent implements RelayAgent {
  port = 0;
  private exited = false;
  private closing: Promise<void> | null = null;
  private stderr = '';
  /** Settles once the agent's stderr has been read to its end (or a moment after it exits). */
  readonly stderrDone: Promise<void>;

  constructor(
    private readonly exec: RunningProcess,
    readonly host: string,
    private readonly token: Buffer,
    private readonly where: string,
    private readonly log: Log,
    private readonly dialer: ContainerDialer,
  ) {
    exec.stderr.setEncoding('utf8');
    exec.stderr.on('data', (chunk: string) => {
      if (this.stderr.length < AGENT_STDERR_LOG_BYTES) {
        this.stderr += chunk.slice(0, AGENT_STDERR_LOG_BYTES - this.stderr.length);
      }
    });
    // The last of stderr (a traceback, say) may come after the exit.
    this.stderrDone = new Promise((resolve) => {
      exec.stderr.once('close', resolve).once('end', resolve);
      void exec.exited.then(() => setTimeout(resolve, AGENT_STDERR_WAIT_MS).unref());
    });
    void exec.exited.then(async (code) => {
      this.exited = true;
      await this.stderrDone;
      // Only an exit nobody asked for is news; the caller sees it as alive === false.
      if (this.closing === null && this.port !== 0) {
        const text = this.stderrText();
        this.log(`the ${where} exited with code ${code}${text === '' ? '' : `: ${text}`}`);
      }
    });
  }

  get alive(): boolean {
    return !this.exited && this.closing === null;
  }

  stderrText(): string {
    return this.stderr.trim();
  }

  async connect(address: string, port: number, destination?: Socket): Promise<Socket> {
    if (!this.alive) throw new ForwarderError(`the ${this.where} is not running`);
    const header = encodeAgentHeader(this.token, address, port);
    const target = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    let socket: Socket | null = null;
    // The first read starts with the agent's status byte; whatever follows it is the target's.
    let onFirst: ((chunk: Buffer) => void) | null = null;
    const forward = destination ? readInto(destination, () => socket as Socket) : null;
    const onread: OnReadOpts | undefined = forward
      ? {
          buffer: forward.buffer,
          callback: (length, buffer) => {
            if (onFirst === null) return forward.callback(length, buffer);
            const first = onFirst;
            onFirst = null;
            first(Buffer.from(buffer.subarray(0, length)));
            return true;
          },
        }
      : undefined;
    const unreachable = (error: Error) =>
      new ForwarderError(`cannot reach the ${this.where} at ${this.host}:${this.port}: ${error.message}`, {
        cause: error,
      });
    try {
      socket = await this.dialer.dial(this.host, this.port, {
        allowHalfOpen: true,
        noDelay: true,
        ...(onread ? { onread } : {}),
      });
    } catch (error) {
      throw unreachable(error as Error);
    }
    if (socket.destroyed) throw unreachable(new Error('the connection failed'));
    const dialled = socket;
    return new Promise((resolve, reject) => {
      const settle = (error: Error | null, chunk?: Buffer) => {
        clearTimeout(timer);
        onFirst = null;
        dialled.off('data', onData).off('end', onEnd).off('error', onError);
        if (error) {
          dialled.destroy();
          reject(error);
          return;
        }
        const rest = chunk?.subarray(1) ?? Buffer.alloc(0);
        if (destination) {
          if (rest.length > 0) destination.write(rest);
        } else {
          // Back in the stream for the caller to read.
          dialled.pause();
          if (rest.length > 0) dialled.unshift(rest);
        }
        resolve(dialled);
      };
      const onData = (chunk: Buffer) => {
        const status = chunk[0] ?? AGENT_STATUS_CONNECTED;
        if (status === AGENT_STATUS_CONNECTED) settle(null, chunk);
        else
          settle(new ForwarderError(`the ${this.where} cannot connect to ${target}: ${errnoName(status)}`));
      };
      onFirst = onData;
      const onEnd = () =>
        settle(new ForwarderError(`the ${this.where} closed the connection to ${target} unanswered`));
      const onError = (error: Error) => settle(unreachable(error));
      const timer = setTimeout(
        () => settle(new ForwarderError(`the ${this.where} did not answer for ${target} in time`)),
        AGENT_CONNECT_TIMEOUT_MS,
      );
      dialled.on('data', onData).once('end', onEnd).once('error', onError);
      dialled.write(header);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  // Ending stdin is the agent's signal to exit; the signals are for an agent (or engine) that hangs.
  private async stop(): Promise<void> {
    await endStdinThenSignal(this.exec, AGENT_EXIT_GRACE_MS);
  }
}

// The agent's first stdout line: its port. Null if it exits, says something else, or takes too long.
function readPort(exec: RunningProcess): Promise<{ port: number | null; said: string }> {
  return new Promise((resolve) => {
    let text = '';
    const done = (port: number | null) => {
      clearTimeout(timer);
      exec.stdout.off('data', onData);
      // Nothing more is expected on stdout; read it anyway so the agent never blocks writing.
      exec.stdout.resume();
      resolve({ port, said: text.slice(0, AGENT_STDERR_LOG_BYTES) });
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end >= 0) done(parseAgentReady(text.slice(0, end)));
      else if (text.length > AGENT_STDERR_LOG_BYTES) done(null);
    };
    const timer = setTimeout(() => done(null), AGENT_START_TIMEOUT_MS);
    exec.stdout.on('data', onData);
    void exec.exited.then(() => done(null));
  });
}

function errnoName(code: number): string {
  const name = Object.entries(osConstants.errno).find(([, value]) => value === code)?.[0];
  return name ?? `error ${code}`;
}
