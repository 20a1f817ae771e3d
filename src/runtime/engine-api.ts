import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as tlsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { errorMessage } from '../common/errors.js';
import { execRemovalOf } from './engine-endpoint.js';
import { FrameDemuxer } from './engine-frames.js';
import { exitCodeOf } from '../common/exit-code.js';
import type { RunningProcess } from './process-runner.js';
import { shortId } from '../common/short-id.js';

/** How long one plain API call (create, inspect, ping) may take. */
export const ENGINE_CALL_TIMEOUT_MS = 10_000;
/** After an exec's stream ends, how long its exit code may take to be recorded by the engine. */
const EXIT_CODE_WAIT_MS = 1_000;
const EXIT_CODE_POLL_MS = 20;
/** The exit code of an exec the engine refused or could not be asked for (as `docker exec` exits). */
const EXEC_REFUSED_CODE = 1;

/** An engine on TCP (tcp://), with TLS when `tls` is set: the PEM texts and whether to verify. */
export interface TcpEngineAddress {
  host: string;
  port: number;
  tls: { verify: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer } | null;
}

interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * The Docker Engine API on a local unix socket, for the one thing the forwarder does often and for
 * long: `docker exec -i`. Through the API an exec is a socket to the engine, not a 25 MB `docker`
 * client process per exec, and it starts in a few milliseconds instead of ~80.
 */
export class EngineApi {
  /** Whether ended exec sessions are removed (see execRemovalOf); known once ping() has answered. */
  execRemoval: ReturnType<typeof execRemovalOf> = 'none';
  /** Podman's API version, null for Docker; known once ping() has answered. */
  podmanVersion: string | null = null;

  /** The engine's unix socket; `tcp`, when set, replaces it. */
  constructor(
    readonly socketPath: string,
    private readonly tcp: TcpEngineAddress | null = null,
  ) {}

  /** Where the engine is reached, for the log: `unix://…` or `tcp://host:port`. */
  get endpoint(): string {
    return this.tcp ? `tcp://${this.tcp.host}:${this.tcp.port}` : `unix://${this.socketPath}`;
  }

  /** True when the engine answers its ping. */
  async ping(): Promise<boolean> {
    try {
      const response = await this.call('GET', '/_ping');
      const podman = response.headers['libpod-api-version'];
      this.podmanVersion = typeof podman === 'string' ? podman : null;
      this.execRemoval = execRemovalOf(this.podmanVersion ?? undefined);
      return response.status === 200 && response.body.trim() === 'OK';
    } catch {
      return false;
    }
  }

  /** Podman's own `GET /libpod/info` text (what `podman info --format json` prints); null if not Podman. */
  async podmanInfo(): Promise<string | null> {
    if (this.podmanVersion === null) return null;
    const response = await this.call('GET', `/v${encodeURIComponent(this.podmanVersion)}/libpod/info`).catch(
      () => null,
    );
    return response?.status === 200 ? response.body : null;
  }

  /**
   * `docker exec -i CONTAINER ARGV…` as a RunningProcess: stdin, stdout and stderr are the exec's;
   * ending stdin closes the exec's stdin; terminate() drops the connection, as killing a `docker
   * exec` client would (the process in the container sees its stdin end); the exit code is the
   * exec's, or 128+signal when it was dropped and is still running.
   */
  execStream(containerId: string, argv: readonly string[], user?: string): RunningProcess {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let socket: Socket | null = null;
    let dropped: NodeJS.Signals | null = null;
    const attached = this.attach(containerId, argv, user, stdout, stderr).then(
      (attachment) => {
        socket = attachment?.socket ?? null;
        if (socket && dropped) socket.destroy();
        return attachment;
      },
      (error: unknown) => {
        stderr.end(`cannot exec in container ${shortId(containerId)}: ${errorMessage(error)}\n`);
        stdout.end();
        return null;
      },
    );
    const stdin = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        void attached.then((attachment) => {
          const target = attachment?.socket;
          if (!target || target.destroyed || !target.writable) callback(brokenPipe());
          else target.write(chunk, (error) => callback(error ?? null));
        });
      },
      final(callback) {
        void attached.then((attachment) => {
          if (attachment && !attachment.socket.destroyed) attachment.socket.end();
          callback();
        });
      },
    });
    const exited = attached.then(async (attachment) => {
      if (!attachment) return EXEC_REFUSED_CODE;
      await attachment.ended;
      const code = await this.exitCode(attachment.execId);
      if (code === null) return exitCodeOf(null, dropped ?? 'SIGTERM');
      await this.removeExec(attachment.execId);
      return code;
    });
    return {
      pid: undefined,
      stdin,
      stdout,
      stderr,
      exited,
      terminate(signal: NodeJS.Signals = 'SIGTERM') {
        dropped ??= signal;
        socket?.destroy();
      },
    };
  }

  // Creates the exec and starts it on a hijacked connection whose frames go to stdout and stderr.
  private async attach(
    containerId: string,
    argv: readonly string[],
    user: string | undefined,
    stdout: PassThrough,
    stderr: PassThrough,
  ): Promise<{ socket: Socket; execId: string; ended: Promise<void> } | null> {
    const created = await this.call('POST', `/containers/${encodeURIComponent(containerId)}/exec`, {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Cmd: argv,
      ...(user === undefined ? {} : { User: user }),
    });
    if (created.status !== 201) {
      // What `docker exec` would print for the same refusal (no such container, not running, …).
      stderr.end(`Error response from daemon: ${apiMessage(created)}\n`);
      stdout.end();
      return null;
    }
    const execId = (JSON.parse(created.body) as { Id: string }).Id;
    const socket = await this.upgrade(`/exec/${execId}/start`, { Detach: false, Tty: false });
    // A reader that falls behind pauses the connection until it has caught up (one wait per stream).
    const waiting = new Set<PassThrough>();
    const demuxer = new FrameDemuxer((stream, payload) => {
      const out = stream === 'stderr' ? stderr : stdout;
      if (out.write(payload) || waiting.has(out)) return;
      waiting.add(out);
      socket.pause();
      out.once('drain', () => {
        waiting.delete(out);
        if (waiting.size === 0) socket.resume();
      });
    });
    const ended = new Promise<void>((resolve) => {
      const finish = () => {
        stdout.end();
        stderr.end();
        resolve();
      };
      socket.on('data', (chunk: Buffer) => {
        try {
          demuxer.push(chunk);
        } catch (error) {
          stderr.write(`the engine's exec stream broke: ${errorMessage(error)}\n`);
          socket.destroy();
        }
      });
      socket.once('close', finish);
      socket.on('error', () => {});
    });
    return { socket, execId, ended };
  }

  // The exec's exit code once the engine has it; null when it is still running after a while.
  private async exitCode(execId: string): Promise<number | null> {
    const deadline = Date.now() + EXIT_CODE_WAIT_MS;
    for (;;) {
      const response = await this.call('GET', `/exec/${execId}/json`).catch(() => null);
      if (response?.status !== 200) return null;
      const state = JSON.parse(response.body) as { Running: boolean; ExitCode: number | null };
      if (!state.Running && state.ExitCode !== null) return state.ExitCode;
      if (Date.now() > deadline) return null;
      await new Promise((resolve) => setTimeout(resolve, EXIT_CODE_POLL_MS));
    }
  }

  // Podman keeps an ended exec's session until removed (Docker removes it itself). One still running
  // (its stream dropped, the process not yet gone) is left to the engine: removing it would kill it.
  private async removeExec(execId: string): Promise<void> {
    if (this.execRemoval !== 'remove') return;
    await this.call('POST', `/libpod/exec/${execId}/remove`, { Force: false }).catch(() => undefined);
  }

  private async call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const outcome = await this.send(method, path, body, false);
    if ('socket' in outcome) {
      outcome.socket.destroy();
      throw new Error(`${method} ${path}: the engine switched protocols unasked`);
    }
    return outcome;
  }

  // POST with `Upgrade: tcp`: the engine answers 101 and the connection becomes the exec's streams.
  private async upgrade(path: string, body: unknown): Promise<Socket> {
    const outcome = await this.send('POST', path, body, true);
    if ('socket' in outcome) return outcome.socket;
    throw new Error(apiMessage(outcome));
  }

  // One request on its own connection: the response read whole, or the connection once upgraded.
  private send(
    method: string,
    path: string,
    body: unknown,
    upgrade: boolean,
  ): Promise<ApiResponse | { socket: Socket }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> =
        payload === undefined ? {} : { 'Content-Type': 'application/json' };
      if (upgrade) Object.assign(headers, { Connection: 'Upgrade', Upgrade: 'tcp' });
      const tls = this.tcp?.tls;
      const target = this.tcp
        ? { host: this.tcp.host, port: this.tcp.port }
        : { socketPath: this.socketPath };
      const secure = tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify } : {};
      const req = (tls ? tlsRequest : request)({
        ...target,
        ...secure,
        method,
        path,
        agent: false,
        timeout: ENGINE_CALL_TIMEOUT_MS,
        headers,
      });
      req.once('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.once('error', reject);
      req.once('upgrade', (_response: IncomingMessage, socket: Socket, head: Buffer) => {
        socket.setTimeout(0);
        if (head.length > 0) socket.unshift(head);
        resolve({ socket });
      });
      req.once('response', (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('error', reject);
        response.once('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.end(payload);
    });
  }
}

function apiMessage(response: ApiResponse): string {
  try {
    const message = (JSON.parse(response.body) as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON: the text itself says it.
  }
  return response.body.trim() || `status ${response.status}`;
}

function brokenPipe(): NodeJS.ErrnoException {
  return Object.assign(new Error('write EPIPE: the exec has ended'), { code: 'EPIPE' });
}
