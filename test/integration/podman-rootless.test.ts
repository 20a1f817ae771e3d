import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { processAlive, type PortRow } from '../support/cli.js';
import { deterministicBytes, freeHostPort, waitFor } from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { DEBIAN_IMAGE } from '../support/images.js';
import { removePodmanContainer, startPodmanContainer } from '../support/podman.js';
import {
  makeUserStateDir,
  rootlessPodman,
  rootlessUser,
  runCliAsUser,
  runUpAsUser,
} from '../support/rootless.js';
import {
  hostLoopbackListens,
  startTimedServer,
  timeWhen,
  type TimedServer,
} from '../support/timed-server.js';

/** The contract's limit for a new listener to be reachable on the host. */
const DETECTION_LIMIT_MS = 2_000;
const TRANSFER_BYTES = 4 * 1024 * 1024;

/** The real uid of a process, from /proc. */
function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe("portpilot run by a user, on that user's rootless Podman (slirp4netns)", () => {
  const user = rootlessUser();
  const engine = rootlessPodman(user);
  const stateDir = makeUserStateDir(user);
  const containers: string[] = [];
  const servers: TimedServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close().catch(() => undefined)));
    for (const id of containers) {
      await runCliAsUser(user, stateDir, ['down', '--container-id', id, '--docker-path', 'podman']);
      await removePodmanContainer(engine, id);
    }
  });

  async function portsAsUser(): Promise<PortRow[]> {
    const run = await runCliAsUser(user, stateDir, ['ports', '--json']);
    if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as PortRow[];
  }

  it('forwards servers on 0.0.0.0 and 127.0.0.1 within 2 s, byte-exact, read from the host; down leaves nothing', async () => {
    const id = await startPodmanContainer(engine, DEBIAN_IMAGE);
    containers.push(id);
    const { run, line } = await runUpAsUser(user, stateDir, [
      '--container-id',
      id,
      '--auto-forward',
      '--docker-path',
      'podman',
    ]);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: id });
    const pid = line.forwarder?.pid ?? 0;
    expect(uidOf(pid)).toBe(user.uid);
    // The container has no cgroup of its own (rootless, cgroup v1): its init is proven by the conmon
    // of the user's that runs it, and its listeners are read from the host's /proc, not by exec.
    expect(readFileSync(line.forwarder?.logFile ?? '', 'utf8')).toContain('"listenerSource":"host-proc"');

    const data = deterministicBytes(TRANSFER_BYTES, 'podman-rootless');
    const ports: number[] = [];
    for (const address of ['0.0.0.0', '127.0.0.1']) {
      const port = await freeHostPort();
      ports.push(port);
      const server = startTimedServer(id, port, address, engine);
      servers.push(server);
      const listened = await server.listened;
      const forwarded = await timeWhen(() => hostLoopbackListens(port), 10_000, `host port ${port}`);
      expect(forwarded - listened, `${address}:${port}`).toBeLessThan(DETECTION_LIMIT_MS);
      // slirp4netns gives the container no address the host can dial: both go over the mux channel.
      const row = await waitFor(
        async () => (await portsAsUser()).find((r) => r.containerPort === port),
        10_000,
      );
      expect(row).toMatchObject({ hostPort: port, path: 'netns', origin: 'detected', forwarderPid: pid });
      expect((await exchange(port, data)).equals(data), `${address}:${port}`).toBe(true);
    }

    const down = await runCliAsUser(user, stateDir, [
      'down',
      '--container-id',
      id,
      '--docker-path',
      'podman',
    ]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(pid)).toBe(false);
    for (const port of ports) expect(hostLoopbackListens(port)).toBe(false);
    expect(await portsAsUser()).toEqual([]);
  });
});
