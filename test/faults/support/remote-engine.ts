import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, type CliRun } from '../../support/cli.js';
import { freeHostPort, waitFor } from '../../support/containers.js';
import { accepts } from '../../support/host-client.js';
import { childPids } from './faults.js';

/** An sshd on 127.0.0.1 that makes this machine's engine a remote one: DOCKER_HOST=ssh://…. */
export interface SshEngine {
  readonly port: number;
  /** DOCKER_HOST, and a PATH whose `ssh` uses the test's key and config, for any docker CLI run. */
  readonly env: Readonly<Record<string, string>>;
  /** Stops the sshd: new connections are refused (sessions already open live on, as with a real one). */
  stop(): Promise<void>;
  /** Starts it again, on the same port with the same keys; resolves once it accepts. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts an sshd of the test's own (openssh-server, installed by scripts/test-env.sh) on a free
 * loopback port, with a host key and a client key made for the test. The docker CLI runs `ssh` from
 * PATH; a wrapper first on PATH points it at the test's config (key, no host key check), since ssh
 * reads ~/.ssh from root's passwd entry, not from HOME.
 */
export async function startSshEngine(): Promise<SshEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-sshd-'));
  const port = await freeHostPort();
  for (const key of ['host_key', 'client_key']) {
    await execa('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'portpilot-test',
      '-f',
      join(dir, key),
    ]);
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), { mode: 0o600 });
  const sshdConfig = join(dir, 'sshd_config');
  writeFileSync(
    sshdConfig,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The keys live under /tmp, which is world-writable: sshd would refuse them otherwise.
      'StrictModes no',
      // MaxStartups stays at its default (10:30:100): the forwarder holds one connection, however busy.
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(
    sshConfig,
    [
      'Host *',
      `  IdentityFile ${join(dir, 'client_key')}`,
      '  IdentitiesOnly yes',
      '  BatchMode yes',
      '  StrictHostKeyChecking no',
      '  UserKnownHostsFile /dev/null',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${sshConfig} "$@"\n`);
  chmodSync(join(dir, 'bin', 'ssh'), 0o755);
  // sshd's privilege separation directory; the package's service would make it, and it never runs.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  let sshd: ChildProcess | null = null;
  const start = async () => {
    const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', sshdConfig], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    sshd = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${stderr}`);
        return accepts(port);
      },
      15_000,
      `sshd to listen on 127.0.0.1:${port}`,
    );
  };
  const stop = async () => {
    const child = sshd;
    sshd = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    env: {
      DOCKER_HOST: `ssh://root@127.0.0.1:${port}`,
      PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`,
    },
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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

/**
 * A pid namespace of its own, as a remote engine's host is: a forwarder started in it cannot find the
 * engine's pids in its /proc, so it reads listeners through exec. Its first process holds it open
 * (a namespace ends with its first process), and every CLI run enters it.
 */
export interface PidNamespace {
  /** Runs `portpilot ARGS…` inside, with the state dir and `env`; never rejects. */
  cli(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<CliRun>;
  /** Ends the namespace: every process in it (forwarders included) is killed. */
  close(): Promise<void>;
}

export async function startPidNamespace(stateDir: string): Promise<PidNamespace> {
  const holder = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'sleep', 'infinity'], {
    stdio: 'ignore',
  });
  const holderPid = holder.pid ?? 0;
  // `unshare --fork` runs the command as its child, the namespace's pid 1.
  const init = await waitFor(() => childPids(holderPid)[0], 10_000, 'the pid namespace to start');
  return {
    async cli(args, env = {}) {
      const result = await execa(
        'nsenter',
        ['--target', String(init), '--pid', '--mount', '--', process.execPath, CLI, ...args],
        {
          reject: false,
          env: { PORTPILOT_STATE_DIR: stateDir, ...env },
          timeout: 120_000,
        },
      );
      return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    async close() {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      process.kill(init, 'SIGKILL');
      await exited;
    },
  };
}
