import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { accepts } from './host-client.js';

// This module is shared by the fault tests and the bench (compiled on its own): it imports nothing
// but node, execa and host-client, none of which reads files at import time.

async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

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
 * Starts an sshd of the caller's own (openssh-server, installed by scripts/test-env.sh) on `port` of
 * 127.0.0.1 (a free one), with a host key and a client key made for the test. The docker CLI runs `ssh` from
 * PATH; a wrapper first on PATH points it at the test's config (key, no host key check), since ssh
 * reads ~/.ssh from root's passwd entry, not from HOME.
 */
export async function startSshEngine(
  port: number,
  options: { maxStartups?: string; sshdLines?: readonly string[] } = {},
): Promise<SshEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-sshd-'));
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
      // sshd's default (10:30:100) unless asked: the forwarder holds one connection, however busy; a
      // docker CLI call per connection (the bench's baseline) needs more.
      ...(options.maxStartups ? [`MaxStartups ${options.maxStartups}`] : []),
      // What a test asks of sshd besides (`AllowTcpForwarding no`, say).
      ...(options.sshdLines ?? []),
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
    await pollUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${stderr}`);
        return (await accepts(port)) ? true : undefined;
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

/**
 * A pid namespace of its own, as a remote engine's host is: a forwarder started in it cannot find the
 * engine's pids in its /proc, so it reads listeners through exec. Its first process holds it open
 * (a namespace ends with its first process); a command is run inside by prefixing `enter`.
 */
export interface PidNamespace {
  /** The host pid of the namespace's first process (its pid 1). */
  readonly init: number;
  /** `nsenter … --`: the argv prefix that runs a command inside (pid and mount namespaces). */
  readonly enter: readonly string[];
  /** Ends the namespace: every process in it (forwarders included) is killed. */
  close(): Promise<void>;
}

function firstChild(pid: number): number | undefined {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return children ? Number(children.split(' ')[0]) : undefined;
}

export async function startPidNamespace(): Promise<PidNamespace> {
  const holder = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'sleep', 'infinity'], {
    stdio: 'ignore',
  });
  const holderPid = holder.pid ?? 0;
  // `unshare --fork` runs the command as its child, the namespace's pid 1.
  const init = await pollUntil(async () => firstChild(holderPid), 10_000, 'the pid namespace to start');
  return {
    init,
    enter: ['nsenter', '--target', String(init), '--pid', '--mount', '--'],
    async close() {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      process.kill(init, 'SIGKILL');
      await exited;
    },
  };
}
