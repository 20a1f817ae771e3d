import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from '../cleanup.js';
import { listeningIn } from '../measure/proc.js';
import { freeHostPort } from './host-ports.js';

/** A running exec-per-connection relay: where it listens, and its pid (its forks are its children). */
export interface ExecRelay {
  hostPort: number;
  pid: number;
}

// socat idles out -t seconds after one side's EOF; its 0.5 s default would cut an echo's reply.
const SOCAT_HALF_CLOSE_TIMEOUT_S = '30';
const LISTEN_TIMEOUT_MS = 10_000;

/** The engine CLI the baseline execs with, and an argv prefix to run its socat under (runuser). */
export interface ExecLauncher {
  engine: string;
  prefix: readonly string[];
}

/**
 * The baseline, as existing forwarders relay: a host socat that forks, for every connection, a fresh
 * `docker exec -i CID socat - TCP:127.0.0.1:PORT` (or `podman exec`). It runs in its own process
 * group, which clean-up kills whole (the listener, its forks and their engine clients).
 */
export async function startExecRelay(
  containerId: string,
  containerPort: number,
  env: Readonly<Record<string, string>> = {},
  launcher: ExecLauncher = { engine: 'docker', prefix: [] },
): Promise<ExecRelay> {
  const hostPort = await freeHostPort();
  // socat's EXEC splits the command on spaces; the colons of the inner address must be escaped.
  const inner = `${launcher.engine} exec -i ${containerId} socat -t ${SOCAT_HALF_CLOSE_TIMEOUT_S} - TCP\\:127.0.0.1\\:${containerPort}`;
  const [command = 'socat', ...prefix] = [...launcher.prefix, 'socat'];
  const child = spawn(
    command,
    [
      ...prefix,
      '-t',
      SOCAT_HALF_CLOSE_TIMEOUT_S,
      `TCP-LISTEN:${hostPort},bind=127.0.0.1,reuseaddr,fork,backlog=1024`,
      `EXEC:${inner}`,
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env }, cwd: '/' },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start socat for the exec-per-connection baseline');
  onCleanup(`stop the exec-per-connection relay on port ${hostPort}`, () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  while (!(await listeningIn('self', [{ host: '127.0.0.1', port: hostPort }]))[0]) {
    if (child.exitCode !== null) throw new Error(`socat for the exec baseline exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`socat never listened on 127.0.0.1:${hostPort}`);
    await sleep(20);
  }
  return { hostPort, pid };
}
