import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { CLI, type CliRun } from '../../support/cli.js';
import { freeHostPort } from '../../support/containers.js';
import * as shared from '../../support/remote-engine.js';

export type { SshEngine } from '../../support/remote-engine.js';

/** An sshd on a free loopback port that makes this machine's engine a remote one (see test/support). */
export async function startSshEngine(sshdLines: readonly string[] = []): Promise<shared.SshEngine> {
  return shared.startSshEngine(await freeHostPort(), { sshdLines });
}

/** The host pids of the ssh clients connected (or connecting) to this sshd's port, whoever ran them. */
export function sshClientPids(port: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'ssh') continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.some((arg, index) => arg === '-p' && argv[index + 1] === String(port)))
        pids.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** The host pid of the forwarder of this container, wherever (whichever pid namespace) it runs. */
export function forwarderHostPid(containerId: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes('__forward-daemon') && argv.includes(containerId)) return Number(name);
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}

/** A pid namespace of its own, as a remote engine's host is, and the CLI run inside it. */
export interface PidNamespace {
  /** Runs `portpilot ARGS…` inside, with the state dir and `env`; never rejects. */
  cli(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<CliRun>;
  /** Ends the namespace: every process in it (forwarders included) is killed. */
  close(): Promise<void>;
}

export async function startPidNamespace(stateDir: string): Promise<PidNamespace> {
  const namespace = await shared.startPidNamespace();
  const [command = 'nsenter', ...prefix] = namespace.enter;
  return {
    async cli(args, env = {}) {
      const result = await execa(command, [...prefix, process.execPath, CLI, ...args], {
        reject: false,
        env: { PORTPILOT_STATE_DIR: stateDir, ...env },
        timeout: 120_000,
      });
      return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    close: () => namespace.close(),
  };
}
