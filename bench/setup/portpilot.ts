import { chown, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { onCleanup } from '../cleanup.js';
import { CLI_PATH } from '../paths.js';
import { asUserArgv, type BenchUser } from './user.js';

/** The `ports --json` fields the bench reads. */
export interface PortRow {
  containerId: string;
  containerPort: number;
  hostPort: number;
  forwarderPid: number;
  path: string;
}

/** `--relay-path` as `up` takes it (the remote section passes whatever `up --help` lists). */
export type RelayPathFlag = 'auto' | 'direct' | 'exec' | (string & {});

/** How the CLI is run: inside a namespace (an argv prefix) and with extra environment (DOCKER_HOST). */
export interface CliRunner {
  prefix: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Run as this user (whose rootless engine it drives), in a clean environment; the state dir is theirs. */
  user?: BenchUser;
  /** Given to every command (`--docker-path podman`). */
  engineArgs?: readonly string[];
}

const HOST_RUNNER: CliRunner = { prefix: [], env: {} };

const FORWARDS_TIMEOUT_MS = 20_000;
const CLI_TIMEOUT_MS = 120_000;

/** The bench's own portpilot state: a private PORTPILOT_STATE_DIR, removed at the end. */
export class Portpilot {
  private constructor(
    readonly stateDir: string,
    private readonly logsDir: string,
    private readonly runner: CliRunner,
  ) {}

  /**
   * Makes a fresh state dir (two state dirs never see each other) and schedules its removal; each
   * forwarder's log is copied to `logsDir` before `down` deletes it. With a `runner` whose prefix
   * enters a pid namespace, the pids `up` prints are that namespace's: never signalled from here.
   */
  static async create(logsDir: string, runner: CliRunner = HOST_RUNNER): Promise<Portpilot> {
    const stateDir = await mkdtemp(join(tmpdir(), 'portpilot-bench-state-'));
    if (runner.user) await chown(stateDir, runner.user.uid, runner.user.gid);
    onCleanup(`remove ${stateDir}`, () => rm(stateDir, { recursive: true, force: true }));
    return new Portpilot(stateDir, logsDir, runner);
  }

  /** A portpilot of its own state dir whose commands (and so its forwarders) get `env` besides. */
  withEnv(env: Readonly<Record<string, string>>): Promise<Portpilot> {
    return Portpilot.create(this.logsDir, { ...this.runner, env: { ...this.runner.env, ...env } });
  }

  private run(commandArgs: readonly string[]) {
    const args = [...commandArgs, ...(this.runner.engineArgs ?? [])];
    const env = { ...this.runner.env, PORTPILOT_STATE_DIR: this.stateDir };
    const { user } = this.runner;
    const argv = user
      ? asUserArgv(user, [process.execPath, CLI_PATH, ...args], env)
      : [...this.runner.prefix, process.execPath, CLI_PATH, ...args];
    const [command = process.execPath, ...rest] = argv;
    return execa(command, rest, { env, reject: false, timeout: CLI_TIMEOUT_MS, cwd: '/' });
  }

  private async cli(args: readonly string[]) {
    const result = await this.run(args);
    if (result.exitCode !== 0) {
      throw new Error(`portpilot ${args[0]} failed (${result.exitCode}): ${result.stdout} ${result.stderr}`);
    }
    return result.stdout;
  }

  /** `up --container-id ID --auto-forward --relay-path PATH`; resolves to the forwarder's pid. */
  async up(containerId: string, relayPath: RelayPathFlag): Promise<number> {
    const started: { pid?: number } = {};
    // Registered before the start, so that a forwarder started by an `up` that then failed is reaped.
    onCleanup(`portpilot down ${containerId.slice(0, 12)}`, async () => {
      await this.down(containerId);
      if (started.pid !== undefined && this.runner.prefix.length === 0)
        await killForwarderIfAlive(started.pid);
    });
    const line = await this.cli([
      'up',
      '--container-id',
      containerId,
      '--auto-forward',
      '--relay-path',
      relayPath,
    ]);
    const parsed = JSON.parse(line) as { outcome: string; forwarder?: { pid: number } };
    const pid = parsed.forwarder?.pid;
    if (parsed.outcome !== 'success' || pid === undefined) throw new Error(`portpilot up printed ${line}`);
    started.pid = pid;
    return pid;
  }

  /** `ports --json --container-id ID`. */
  async ports(containerId: string): Promise<PortRow[]> {
    return JSON.parse(await this.cli(['ports', '--json', '--container-id', containerId])) as PortRow[];
  }

  /** Waits until every container port is forwarded; resolves to their rows by container port. */
  async waitForwarded(containerId: string, containerPorts: readonly number[]): Promise<Map<number, PortRow>> {
    const deadline = Date.now() + FORWARDS_TIMEOUT_MS;
    for (;;) {
      const rows = new Map((await this.ports(containerId)).map((row) => [row.containerPort, row]));
      if (containerPorts.every((port) => rows.has(port))) return rows;
      if (Date.now() > deadline) {
        const missing = containerPorts.filter((port) => !rows.has(port));
        throw new Error(`portpilot never forwarded container ports ${missing.join(', ')} of ${containerId}`);
      }
      await sleep(100);
    }
  }

  /** `down --container-id ID --remove`: the forwarder reaped, its ports freed, the container removed. */
  async down(containerId: string): Promise<void> {
    const log = join(this.stateDir, 'forwarders', `${containerId}.log`);
    await mkdir(this.logsDir, { recursive: true });
    await copyFile(log, join(this.logsDir, `${containerId.slice(0, 12)}.log`)).catch(() => undefined);
    await this.run(['down', '--container-id', containerId, '--remove']);
  }
}

// Only a process that is still this forwarder (its pid not reused) is killed.
async function killForwarderIfAlive(pid: number): Promise<void> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('__forward-daemon')) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}
