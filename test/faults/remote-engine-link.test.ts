import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortRow, UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  deterministicBytes,
  freeHostPort,
  sha256,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { accepts, echoExact, exchange, httpGet } from '../support/host-client.js';
import { TEST_IMAGES } from '../support/images.js';
import { startFaultServer } from './support/faults.js';
import {
  forwarderHostPid,
  sshClientPids,
  startPidNamespace,
  startSshEngine,
  type PidNamespace,
  type SshEngine,
} from './support/remote-engine.js';

const scope = containerScope();
const { stateDir } = scope;
/** The contract's bound: a new listener is reachable on the host within this. */
const DETECTION_LIMIT_MS = 2_000;
const DETECTION_TRIALS = 5;
const CONCURRENT_GETS = 30;

let ssh: SshEngine;
let namespace: PidNamespace;
let container: TestContainer;
let firstPort: number;
// Registered after the scope's: runs first, so `down` finds the forwarder already gone.
afterAll(async () => {
  await namespace?.close();
  await ssh?.close();
});

const logged = () => {
  const file = join(stateDir, 'forwarders', `${container.id}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};
const rowsNow = async () => {
  const run = await namespace.cli(['ports', '--json']);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === container.id);
};

// Every ssh client to the test sshd, sampled while `work` runs: the most seen at once.
async function mostSshClientsDuring(work: Promise<unknown>): Promise<number> {
  let most = 0;
  let done = false;
  void work.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    most = Math.max(most, sshClientPids(ssh.port).length);
    await sleep(10);
  }
  await work;
  return most;
}

// A container the host cannot route to, behind DOCKER_HOST=ssh://, forwarded from a pid namespace
// that cannot see the engine's pids: every connection is an exec through the engine, over SSH (held
// to exec: the mux channel, one exec for them all, is tested over the same link in mux-remote-ssh).
beforeAll(async () => {
  container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'none'] });
  firstPort = await freeHostPort();
  await startFaultServer(container.id, 'echo', '127.0.0.1', [firstPort]);
  ssh = await startSshEngine();
  namespace = await startPidNamespace(stateDir);
  const up = await namespace.cli(
    ['up', '--container-id', container.id, '--auto-forward', '--relay-path', 'exec'],
    ssh.env,
  );
  const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
  expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
  await waitFor(() => accepts(firstPort), 15_000, `port ${firstPort} forwarded`);
  expect(logged()).toMatch(/"listenerSource":"exec"/);
  expect(logged()).toMatch(/one SSH link carries every engine call/);
});

describe('a remote engine (DOCKER_HOST=ssh://) reached over one persistent SSH link', () => {
  it(`detects a new listener within ${DETECTION_LIMIT_MS / 1000} s`, async () => {
    for (let trial = 0; trial < DETECTION_TRIALS; trial += 1) {
      const port = await freeHostPort();
      const started = Date.now();
      await startFaultServer(container.id, 'echo', '127.0.0.1', [port]);
      while (!(await accepts(port))) {
        if (Date.now() - started > DETECTION_LIMIT_MS * 5) break;
        await sleep(20);
      }
      // Counted from before the server was started (a `docker exec` of its own), so an upper bound.
      expect(Date.now() - started, `trial ${trial}, port ${port}`).toBeLessThanOrEqual(DETECTION_LIMIT_MS);
      expect((await exchange(port, Buffer.from(`trial ${trial}`))).toString()).toBe(`trial ${trial}`);
    }
  });

  it('carries bytes unchanged both ways, and passes a half-close on', async () => {
    const data = deterministicBytes(8 * 1024 * 1024, 'ssh-link');
    expect(sha256(await echoExact(firstPort, data))).toBe(sha256(data));
    const sinkPort = await freeHostPort();
    await startServer(container.id, { port: sinkPort, address: '127.0.0.1', kind: 'sink-sha256' });
    await waitFor(() => accepts(sinkPort), 15_000, `port ${sinkPort} forwarded`);
    // The sink answers with the digest of what it read only once it reads the client's end.
    const digest = (await exchange(sinkPort, data)).toString('utf8').trim();
    expect(digest).toBe(sha256(data));
  });

  it(`answers ${CONCURRENT_GETS} concurrent GETs with sshd's MaxStartups at its default, over one ssh`, async () => {
    const httpPort = await freeHostPort();
    await startServer(container.id, { port: httpPort, address: '127.0.0.1', kind: 'http' });
    await waitFor(() => accepts(httpPort), 15_000, `port ${httpPort} forwarded`);
    for (let round = 0; round < 2; round += 1) {
      const gets = Promise.all(Array.from({ length: CONCURRENT_GETS }, () => httpGet(httpPort)));
      const most = await mostSshClientsDuring(gets);
      const statuses = (await gets).map((response) => response.status);
      expect(statuses).toEqual(Array.from({ length: CONCURRENT_GETS }, () => 200));
      expect(most).toBe(1);
    }
  });

  it('re-establishes the link when its ssh is killed, keeping every forward', async () => {
    const before = await rowsNow();
    const [link] = sshClientPids(ssh.port);
    expect(link).toBeDefined();
    process.kill(link ?? 0, 'SIGKILL');
    const next = await waitFor(
      () => sshClientPids(ssh.port).find((pid) => pid !== link),
      15_000,
      'a new ssh link',
    );
    const echoed = await waitFor(
      () => exchange(firstPort, Buffer.from('again')).catch(() => null),
      15_000,
      'the port to forward over the new link',
    );
    expect(echoed.toString()).toBe('again');
    const later = await freeHostPort();
    await startFaultServer(container.id, 'echo', '127.0.0.1', [later]);
    await waitFor(() => accepts(later), 15_000, `port ${later} forwarded over the new link`);
    const after = await rowsNow();
    for (const row of before) {
      const same = after.find((other) => other.containerPort === row.containerPort);
      expect(same?.hostPort).toBe(row.hostPort);
      expect(same?.forwarderPid).toBe(row.forwarderPid);
    }
    expect(sshClientPids(ssh.port)).toEqual([next]);
    expect(logged()).toMatch(/the SSH link to the engine dropped; reconnecting/);
    expect(logged()).not.toMatch(/the container stopped|forwarder stopping/);
  });

  it('takes its ssh with it when the forwarder is killed with SIGKILL', async () => {
    const pid = forwarderHostPid(container.id);
    expect(pid).not.toBeNull();
    expect(sshClientPids(ssh.port)).toHaveLength(1);
    process.kill(pid ?? 0, 'SIGKILL');
    await waitFor(() => sshClientPids(ssh.port).length === 0, 15_000, 'the ssh link to end');
  });
});
