import type { Socket } from 'node:net';
import { errorMessage } from '../../../common/errors.js';
import type { Log } from '../../../common/log.js';
import { shortId } from '../../../common/short-id.js';
import type { Docker } from '../../../runtime/docker.js';
import type { RunningProcess } from '../../../runtime/process-runner.js';
import { reset } from '../socket-reset.js';
import { relayStderrEvent } from './exec-relay.js';

/** How long an exec may take to finish once its client has gone, or a client to close once its exec has. */
export const RELAY_GRACE_MS = 3_000;
/** After SIGTERM, how long an exec has before SIGKILL (through the engine API, SIGTERM already drops it). */
export const EXEC_KILL_AFTER_MS = 2_000;
/** How much of an exec's stderr is kept for the log. */
export const STDERR_LOG_LIMIT_BYTES = 4_096;

/**
 * Relays one host connection through an exec of its own in the container (`argv`, a relay program
 * that dials the server there): the client's bytes are its stdin, its stdout the server's bytes.
 */
export function relayExec(
  client: Socket,
  target: { containerId: string; argv: string[] },
  deps: { docker: Docker; log?: Log },
): Promise<void> {
  const where = `relay in container ${shortId(target.containerId)}`;
  let exec: RunningProcess;
  try {
    exec = deps.docker.execStream(target.containerId, target.argv);
  } catch (error) {
    deps.log?.(`cannot start the ${where}`, { error: errorMessage(error) });
    client.destroy();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let clientClosed = false;
    let exitCode: number | null = null;
    let bytesDown = 0;

    const finish = () => {
      if (!clientClosed || exitCode === null) return;
      for (const timer of timers) clearTimeout(timer);
      resolve();
    };
    const endStdin = () => {
      client.unpipe(exec.stdin);
      if (!exec.stdin.writableEnded) exec.stdin.end();
    };

    // EPIPE once the exec is gone: its exit is handled below.
    exec.stdin.on('error', () => {});
    client.on('error', () => client.destroy());
    client.pipe(exec.stdin);
    exec.stdout.on('data', (chunk: Buffer) => (bytesDown += chunk.length));
    exec.stdout.pipe(client, { end: false });

    const stderr = collectStderr(exec, endStdin);

    client.once('close', () => {
      clientClosed = true;
      endStdin();
      // Keep the exec's stdout flowing so that it is never stuck writing to nobody.
      exec.stdout.unpipe(client);
      exec.stdout.resume();
      if (exitCode === null) {
        timers.push(
          setTimeout(() => {
            exec.terminate('SIGTERM');
            timers.push(setTimeout(() => exec.terminate('SIGKILL'), EXEC_KILL_AFTER_MS));
          }, RELAY_GRACE_MS),
        );
      }
      finish();
    });

    // Docker shows the end of the relay's output only when it exits: that is the server's EOF.
    const stdoutEnded = new Promise<void>((resolveEnd) => {
      exec.stdout.once('end', resolveEnd);
      exec.stdout.once('close', resolveEnd);
    });
    void Promise.all([exec.exited, stdoutEnded]).then(([code]) => {
      exitCode = code;
      const text = stderr.text().trim();
      if (code !== 0 || text !== '') {
        deps.log?.(`${where} exited with code ${code}${text === '' ? '' : `: ${text}`}`);
      }
      if (!clientClosed) {
        endStdin();
        // Whatever the client still sends has nowhere to go; reading it lets its FIN arrive.
        client.resume();
        // A relay that failed before relaying anything (connection refused) refuses the client too.
        if (code !== 0 && bytesDown === 0) reset(client);
        else client.end();
        timers.push(setTimeout(() => client.destroy(), RELAY_GRACE_MS));
      }
      finish();
    });
  });
}

interface StderrLog {
  text(): string;
}

// Lines are classified as they come (socat's server-EOF notice must act at once); only what may be
// an error is kept, and only the first STDERR_LOG_LIMIT_BYTES of it.
function collectStderr(exec: RunningProcess, onServerEof: () => void): StderrLog {
  let partial = '';
  let kept = '';
  const take = (line: string) => {
    const event = relayStderrEvent(line);
    if (event === 'server-eof') onServerEof();
    else if (event === 'error' && line.trim() !== '' && kept.length < STDERR_LOG_LIMIT_BYTES) {
      kept += `${line}\n`.slice(0, STDERR_LOG_LIMIT_BYTES - kept.length);
    }
  };
  exec.stderr.setEncoding('utf8');
  exec.stderr.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > STDERR_LOG_LIMIT_BYTES) {
      take(partial);
      partial = '';
    }
    for (const line of lines) take(line);
  });
  exec.stderr.on('error', (error) => take(`stderr: ${errorMessage(error)}`));
  return {
    text() {
      if (partial !== '') take(partial);
      partial = '';
      return kept;
    },
  };
}
