import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { DOCKER_COMMAND, waitFor } from '../../support/containers.js';

/** Where the private engine keeps its socket, pid file and exec root (the shared engine is elsewhere). */
export const PRIVATE_ENGINE_RUN_DIR = '/run/portpilot-faults';
/** DOCKER_HOST for the private engine. */
export const PRIVATE_DOCKER_HOST = `unix://${PRIVATE_ENGINE_RUN_DIR}/docker.sock`;

/** The private engine's own bridge, made before it starts and deleted after (see PrivateEngine). */
const PRIVATE_BRIDGE = 'ppfaults0';
const PRIVATE_BRIDGE_ADDRESS = '10.213.57.1/24';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;

/**
 * A second dockerd of our own, which the tests may stop and start at will: the shared engine serves
 * other people's tests and is never restarted. It has its own data root, exec root (hence its own
 * managed containerd), pid file and socket, a bridge of its own and no iptables rules, so it touches
 * nothing the shared engine owns. Containers on it run with `--network none`.
 *
 * Never `--bridge=none`: a dockerd started so deletes the host's `docker0` on its way up, which
 * takes the shared engine's default network away from under it.
 */
export class PrivateEngine {
  private readonly dataRoot = mkdtempSync('/tmp/portpilot-faults-data-');
  private readonly logFile = `${this.dataRoot}.log`;
  private readonly pidFile = `${PRIVATE_ENGINE_RUN_DIR}/docker.pid`;
  private pid: number | null = null;

  /** Env for anything (docker, portpilot up) that should talk to this engine. */
  readonly env = { DOCKER_HOST: PRIVATE_DOCKER_HOST };

  /** Starts dockerd and waits until it answers; throws with its log when it does not. */
  async start(options: { liveRestore: boolean }): Promise<void> {
    await stopStrayEngine(this.pidFile);
    await ensurePrivateBridge();
    mkdirSync(PRIVATE_ENGINE_RUN_DIR, { recursive: true, mode: 0o700 });
    const config = `${PRIVATE_ENGINE_RUN_DIR}/daemon.json`;
    writeFileSync(config, '{}\n');
    const log = openSync(this.logFile, 'a');
    const args = [
      '--config-file',
      config,
      '--data-root',
      this.dataRoot,
      '--exec-root',
      `${PRIVATE_ENGINE_RUN_DIR}/exec`,
      '--pidfile',
      this.pidFile,
      '-H',
      PRIVATE_DOCKER_HOST,
      `--bridge=${PRIVATE_BRIDGE}`,
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--containerd-namespace',
      'portpilot-faults',
      '--containerd-plugins-namespace',
      'portpilot-faults-plugins',
      ...(options.liveRestore ? ['--live-restore'] : []),
    ];
    const child = spawn('dockerd', args, { detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    child.unref();
    this.pid = child.pid ?? null;
    try {
      await waitFor(
        async () => (await this.docker(['version', '--format', '{{.Server.Version}}'])).exitCode === 0,
        START_TIMEOUT_MS,
        'the private dockerd to answer',
      );
    } catch (error) {
      throw new Error(`the private dockerd did not start; its log:\n${this.logTail()}`, { cause: error });
    }
  }

  /** SIGTERM to dockerd, as `systemctl stop docker` does; resolves once it has exited. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    await waitFor(() => !isAlive(pid), STOP_TIMEOUT_MS, 'the private dockerd to exit');
    this.pid = null;
  }

  /** Runs docker against this engine; never rejects. */
  docker(args: readonly string[], input?: Buffer) {
    return execa(DOCKER_COMMAND, ['-H', PRIVATE_DOCKER_HOST, ...args], { reject: false, input });
  }

  /** Copies an image from the shared engine into this one. */
  async loadImage(tag: string): Promise<void> {
    const saved = await execa(DOCKER_COMMAND, ['save', tag], { encoding: 'buffer' });
    const loaded = await this.docker(['load'], Buffer.from(saved.stdout));
    if (loaded.exitCode !== 0) throw new Error(`docker load of ${tag} failed: ${loaded.stderr}`);
  }

  /** Stops the engine (removing its containers first) and deletes every file it had. */
  async destroy(): Promise<void> {
    if (this.pid !== null) {
      const ids = (await this.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await this.docker(['rm', '-f', ...ids]);
      await this.stop();
    }
    await stopStrayEngine(this.pidFile);
    // dockerd unmounts its layers as it stops; anything left would make rm fail loudly.
    await execa('sh', ['-c', `grep -o " ${this.dataRoot}[^ ]*" /proc/mounts | xargs -r -n1 umount -l`], {
      reject: false,
    });
    await rm(this.dataRoot, { recursive: true, force: true });
    await rm(this.logFile, { force: true });
    await rm(PRIVATE_ENGINE_RUN_DIR, { recursive: true, force: true });
    await execa('ip', ['link', 'delete', PRIVATE_BRIDGE], { reject: false });
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

async function ensurePrivateBridge(): Promise<void> {
  if (existsSync(`/sys/class/net/${PRIVATE_BRIDGE}`)) return;
  for (const args of [
    ['link', 'add', PRIVATE_BRIDGE, 'type', 'bridge'],
    ['addr', 'add', PRIVATE_BRIDGE_ADDRESS, 'dev', PRIVATE_BRIDGE],
    ['link', 'set', PRIVATE_BRIDGE, 'up'],
  ]) {
    await execa('ip', args);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** A private dockerd left running by an interrupted earlier run holds the socket: stop it first. */
async function stopStrayEngine(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (!cmdline.includes(PRIVATE_DOCKER_HOST)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 600 && isAlive(pid); i++) await sleep(100);
}
