import { execa } from 'execa';
import { CLI, type CliRun } from '../../support/cli.js';
import { freeHostPort } from '../../support/containers.js';
import * as shared from '../../support/remote-engine.js';

export type { SshEngine } from '../../support/remote-engine.js';

/** An sshd on a free loopback port that makes this machine's engine a remote one (see test/support). */
export async function startSshEngine(): Promise<shared.SshEngine> {
  return shared.startSshEngine(await freeHostPort());
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
