import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, freeHostPort, waitFor } from '../support/containers.js';
import { accepts, exchange } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { startFaultServer } from './support/faults.js';
import {
  sshClientPids,
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from './support/remote-engine.js';

const scope = containerScope();
const { stateDir } = scope;
/** How long the SSH link to the engine is down. */
const OUTAGE_MS = 10_000;

let ssh: SshEngine | null = null;
let namespace: PidNamespace | null = null;
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
});

describe('a remote engine (DOCKER_HOST=ssh://) whose SSH link goes down', () => {
  it(`keeps every port through ${OUTAGE_MS / 1000} s without sshd, then forwards and detects again`, async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    const later = await freeHostPort();
    await startFaultServer(container.id, 'echo', '127.0.0.1', [port]);
    ssh = await startSshEngine();
    const engine = await execa(DOCKER_COMMAND, ['version', '--format', '{{.Server.Version}}'], {
      env: ssh.env,
      reject: false,
    });
    expect(engine.exitCode, `docker over ssh: ${engine.stderr}`).toBe(0);
    namespace = await startPidNamespace(stateDir);
    const ns = namespace;

    // Exec forced: this is about reads that fail while the link is down; the channel's own ends are
    // covered by remote-mux.test.ts.
    const up = await ns.cli(
      ['up', '--container-id', container.id, '--auto-forward', '--relay-path', 'exec'],
      ssh.env,
    );
    const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
    expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
    const rowsNow = async () => {
      const run = await ns.cli(['ports', '--json']);
      if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
      return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === container.id);
    };
    const waitForPorts = (ports: readonly number[]) =>
      waitFor(
        async () => {
          const rows = await rowsNow();
          const have = rows.map((row) => row.containerPort).sort((a, b) => a - b);
          return have.join(',') === [...ports].sort((a, b) => a - b).join(',') ? rows : null;
        },
        15_000,
        `ports [${ports.join(',')}] forwarded`,
      );
    const [before] = await waitForPorts([port]);
    const logFile = join(stateDir, 'forwarders', `${container.id}.log`);
    const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    // As on a real remote host: the listeners are read through `docker exec`, over SSH.
    expect(logged()).toMatch(/"listenerSource":"exec"/);
    expect((await exchange(port, Buffer.from('before'))).toString()).toBe('before');

    const loggedBefore = logged().length;
    await ssh.stop();
    // The forwarder's one SSH connection outlives sshd's listener, as sessions do: cut it too.
    const links = sshClientPids(ssh.port);
    expect(links).toHaveLength(1);
    for (const pid of links) process.kill(pid, 'SIGKILL');
    const refused = await execa(DOCKER_COMMAND, ['version'], { env: ssh.env, reject: false });
    expect(refused.exitCode).not.toBe(0);
    await sleep(OUTAGE_MS);
    const during = logged().slice(loggedBefore);
    // Reads failed, and the forwarder kept going: its port still listens.
    expect(during).toMatch(/reading listeners failed/);
    expect(during).not.toMatch(/the container stopped|forwarder stopping/);
    expect(await accepts(port)).toBe(true);
    await ssh.start();

    const echoed = await waitFor(
      () => exchange(port, Buffer.from('after')).catch(() => null),
      20_000,
      'the port to forward again once sshd is back',
    );
    expect(echoed.toString()).toBe('after');
    await startFaultServer(container.id, 'echo', '127.0.0.1', [later]);
    const rows = await waitForPorts([port, later]);
    for (const row of rows) expect(row.forwarderPid).toBe(before?.forwarderPid);
    expect(rows.find((row) => row.containerPort === port)?.hostPort).toBe(before?.hostPort);
    expect((await exchange(later, Buffer.from('later'))).toString()).toBe('later');
    expect(logged().slice(loggedBefore)).not.toMatch(/the container stopped|forwarder stopping/);
  });
});
