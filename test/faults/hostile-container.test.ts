import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, processAlive, runCli } from '../support/cli.js';
import {
  DOCKER_COMMAND,
  TEST_RUN_ID,
  freeHostPort,
  removeThisRunsTestContainers,
  startContainer,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { exchange, httpGet } from '../support/host-client.js';
import { DEBIAN_IMAGE, HELLO_FILE_TEXT, NONE_IMAGE, TEST_IMAGES } from '../support/images.js';
import {
  forwardContainer,
  hostListenAddresses,
  loggedEvents,
  rowsOf,
  runCliWith,
  startFaultServer,
  startWatch,
  upWith,
  waitForRows,
} from './support/faults.js';

const stateDir = makeStateDir();
const started: TestContainer[] = [];
const workspaces: string[] = [];
/** AUTO_FORWARD_CAP in src/forwarding/forward-plan.ts. */
const CAP = 20;
const LISTENING = 32;
/** C0 controls (but the newline), DEL and the C1 controls, CSI (0x9b) among them. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

afterAll(async () => {
  for (const folder of workspaces) await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
  for (const container of started)
    await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
  await removeThisRunsTestContainers();
});

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeHostPort());
  return [...ports];
}

describe('a container listening on more ports than the auto-forward cap', () => {
  it(`forwards ${CAP} of ${LISTENING}, reports it in ONE failed event, and still forwards declared ports`, async () => {
    const container = await startContainer(TEST_IMAGES.debian.tag);
    started.push(container);
    const [declared, ...listening] = await distinctFreePorts(LISTENING + 1);
    const watcher = await startWatch(stateDir, [], { json: true });
    await startFaultServer(container.id, 'echo', '127.0.0.1', [...listening, declared ?? 0]);
    await forwardContainer(stateDir, container.id, ['--forward-port', String(declared)]);

    const rows = await waitFor(
      async () => {
        const current = await rowsOf(stateDir, container.id);
        return current.length === CAP + 1 ? current : null;
      },
      15_000,
      `${CAP} detected ports and the declared one`,
    );
    expect(rows.filter((row) => row.origin === 'declared').map((row) => row.containerPort)).toEqual([
      declared,
    ]);
    expect(rows.filter((row) => row.origin === 'detected')).toHaveLength(CAP);
    expect((await exchange(declared ?? 0, Buffer.from('declared'))).toString()).toBe('declared');

    // More listeners later, and time for several more reads: still the one event.
    const more = await distinctFreePorts(5);
    await startFaultServer(container.id, 'echo', '127.0.0.1', more);
    await sleep(6_000);
    expect(await rowsOf(stateDir, container.id)).toHaveLength(CAP + 1);
    await watcher.stop();

    const log = join(stateDir, 'forwarders', `${container.id}.log`);
    for (const events of [watcher.events, loggedEvents([log])]) {
      const failed = events.filter((event) => event.type === 'failed' && event.containerId === container.id);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.reason).toMatch(new RegExp(`more than ${CAP} ports`));
      expect(failed[0]?.reason).toMatch(/forwardPorts|--forward-port/);
    }
  });
});

describe("a container on the host's network", () => {
  it('forwards nothing, says why in ONE failed event, and never forwards its own listeners', async () => {
    const container = await startContainer(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'host'] });
    started.push(container);
    const [port] = await distinctFreePorts(1);
    await startFaultServer(container.id, 'echo', '127.0.0.1', [port ?? 0]);
    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    await forwardContainer(stateDir, container.id);
    // Several reads: a forwarder that forwarded its own listeners would have grown to the cap by now.
    await sleep(6_000);
    await watcher.stop();
    expect(await rowsOf(stateDir, container.id)).toEqual([]);
    const failed = watcher.events.filter((event) => event.type === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.reason).toMatch(/host's network/);
    // The server is where it always was: on the host, at its own port.
    expect((await exchange(port ?? 0, Buffer.from('on the host'))).toString()).toBe('on the host');
  });

  it('never binds a declared port, so the dev server that starts later gets it, and says why once', async () => {
    const container = await startContainer(TEST_IMAGES.debian.tag, { runArgs: ['--network', 'host'] });
    started.push(container);
    const [declared = 0, detected = 0] = await distinctFreePorts(2);
    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    // The forwarder first, as `up --auto-forward` runs before a dev server starts.
    await forwardContainer(stateDir, container.id, ['--forward-port', String(declared)]);
    await sleep(1_000);
    // Its own listeners share the container's network: a forwarder that bound the declared port
    // would make the server fail to listen, and relay the port to itself.
    expect(hostListenAddresses(declared)).toEqual([]);
    await startServer(container.id, { port: declared, address: '127.0.0.1', kind: 'http' });
    await startServer(container.id, { port: detected, address: '127.0.0.1', kind: 'http' });
    await sleep(6_000);
    await watcher.stop();

    for (const port of [declared, detected]) {
      const response = await httpGet(port, '/hello.txt');
      expect(response.status).toBe(200);
      expect(response.body).toBe(HELLO_FILE_TEXT);
    }
    expect(await rowsOf(stateDir, container.id)).toEqual([]);
    const failed = watcher.events.filter((event) => event.type === 'failed');
    const forDeclared = failed.filter((event) => event.containerPort === declared);
    expect(forDeclared).toHaveLength(1);
    expect(forDeclared[0]).toMatchObject({ origin: 'declared', hostPort: null });
    expect(forDeclared[0]?.reason).toMatch(/host's network/);
    expect(forDeclared[0]?.reason).toContain(`port ${declared}`);
    // And the one event for every detected listener, as without a declared port.
    expect(failed.filter((event) => event.containerPort !== declared)).toHaveLength(1);
    expect(watcher.events.filter((event) => event.type === 'forwarded')).toEqual([]);
  });
});

describe("a container on the host's network whose image has no relay program", () => {
  it('up --auto-forward succeeds, nothing is bound, the server gets one failed event, and down stops it', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const container = await startContainer(NONE_IMAGE, { runArgs: ['--network', 'host'] });
    started.push(container);
    const [declared = 0, detected = 0] = await distinctFreePorts(2);
    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    // Nothing is relayed on the host's network: the forwarder starts without any relay program.
    const pid = await forwardContainer(stateDir, container.id, ['--forward-port', String(declared)]);
    await sleep(1_000);
    expect(hostListenAddresses(declared)).toEqual([]);
    await startServer(container.id, { port: declared, address: '127.0.0.1', kind: 'http' });
    await startServer(container.id, { port: detected, address: '127.0.0.1', kind: 'http' });
    await sleep(6_000);
    for (const port of [declared, detected]) {
      const response = await httpGet(port, '/hello.txt');
      expect(response.status).toBe(200);
      expect(response.body).toBe(HELLO_FILE_TEXT);
    }
    expect(await rowsOf(stateDir, container.id)).toEqual([]);

    // After a restart it follows the container again, still without looking for a relay program.
    const logFile = join(stateDir, 'forwarders', `${container.id}.log`);
    const logged = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const loggedBefore = logged().length;
    await execa(DOCKER_COMMAND, ['restart', '--time', '1', container.id]);
    const outcome = await waitFor(
      () => {
        const fresh = logged().slice(loggedBefore);
        if (fresh.includes('cannot look the restarted container over again')) return 'failed';
        if (fresh.includes('forwarding to the restarted container')) return 'followed';
        return processAlive(pid) ? null : 'left';
      },
      15_000,
      'the forwarder to follow the restart',
    );
    expect(outcome).toBe('followed');
    await watcher.stop();

    const failed = watcher.events.filter((event) => event.type === 'failed');
    const forDeclared = failed.filter((event) => event.containerPort === declared);
    expect(forDeclared).toHaveLength(1);
    expect(forDeclared[0]).toMatchObject({ origin: 'declared', hostPort: null });
    expect(forDeclared[0]?.reason).toMatch(/host's network/);
    const forDetected = failed.filter((event) => event.containerPort !== declared);
    expect(forDetected).toHaveLength(1);
    expect(forDetected[0]?.reason).toMatch(/host's network/);
    expect(watcher.events.filter((event) => event.type === 'forwarded')).toEqual([]);

    // The engine saw no probe exec, neither at start nor after the restart.
    const execs = await execa(DOCKER_COMMAND, [
      'events',
      '--since',
      since,
      '--until',
      String(Math.ceil(Date.now() / 1000)),
      '--filter',
      `container=${container.id}`,
      '--filter',
      'event=exec_create',
      '--format',
      '{{.Action}}',
    ]);
    // The forwarder's probe is `sh -c "for p in socat nc …"`, or `socat -V` and so on without sh.
    expect(execs.stdout).toMatch(/httpd/);
    expect(execs.stdout).not.toMatch(/for p in socat|socat -V/);

    const down = await runCliWith(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    await waitFor(() => !processAlive(pid), 10_000, 'the forwarder to stop');
    expect(await rowsOf(stateDir, container.id)).toEqual([]);
  });
});

describe("a Compose service on the host's network whose image has no relay program", () => {
  it('up --auto-forward succeeds, its declared port is not bound, and one failed event says why', async () => {
    const [port = 0] = await distinctFreePorts(1);
    const folder = mkdtempSync(join(tmpdir(), 'portpilot-ws-hostnet-'));
    workspaces.push(folder);
    mkdirSync(join(folder, '.devcontainer'));
    const labels = { 'portpilot.test': '1', 'portpilot.test.run': TEST_RUN_ID };
    writeFileSync(
      join(folder, '.devcontainer', 'devcontainer.json'),
      JSON.stringify({
        dockerComposeFile: 'docker-compose.yml',
        service: 'app',
        overrideCommand: true,
        forwardPorts: [`edge:${port}`],
      }),
    );
    // JSON is YAML: Compose reads it as it is.
    writeFileSync(
      join(folder, '.devcontainer', 'docker-compose.yml'),
      JSON.stringify({
        version: '3.8',
        services: {
          app: { image: DEBIAN_IMAGE, labels },
          edge: { image: NONE_IMAGE, labels, network_mode: 'host', command: ['sleep', '100000'] },
        },
      }),
    );
    const watcher = await startWatch(stateDir, [], { json: true });
    const up = await upWith(stateDir, ['--workspace-folder', folder, '--auto-forward']);
    expect(up.line.outcome, `${up.run.stdout}\n${up.run.stderr}`).toBe('success');
    await waitFor(
      () => watcher.events.some((event) => event.type === 'failed' && event.containerPort === port),
      10_000,
      `the failed event of edge:${port}`,
    );
    await sleep(1_000);
    await watcher.stop();
    expect(hostListenAddresses(port)).toEqual([]);
    const failed = watcher.events.filter((event) => event.type === 'failed' && event.containerPort === port);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ origin: 'declared', hostPort: null });
    expect(failed[0]?.reason).toMatch(/host's network/);
    expect(watcher.events.filter((event) => event.containerPort === port && event.type !== 'failed')).toEqual(
      [],
    );

    const down = await runCliWith(stateDir, ['down', '--workspace-folder', folder]);
    expect(down.exitCode, down.stderr).toBe(0);
    const pid = up.line.forwarder?.pid ?? 0;
    await waitFor(() => !processAlive(pid), 10_000, 'the forwarder to stop');
  });
});

describe('a container whose process names and labels are full of terminal escapes', () => {
  it('ports (table) and ports --watch print no control bytes, while --json keeps the text', async () => {
    const [port] = await distinctFreePorts(1);
    const folder = mkdtempSync(join(tmpdir(), 'portpilot-ws-escapes-'));
    workspaces.push(folder);
    mkdirSync(join(folder, '.devcontainer'));
    const label = '\u001b]0;pwned\u0007\u001b[2J\u001b[31mred\u009b1m label';
    writeFileSync(
      join(folder, '.devcontainer', 'devcontainer.json'),
      JSON.stringify({
        name: `portpilot escapes ${TEST_RUN_ID}`,
        image: DEBIAN_IMAGE,
        runArgs: ['--label', 'portpilot.test=1', '--label', `portpilot.test.run=${TEST_RUN_ID}`],
        portsAttributes: { [String(port)]: { label } },
      }),
    );
    const up = await upWith(stateDir, ['--workspace-folder', folder, '--auto-forward']);
    expect(up.line.outcome, up.run.stderr).toBe('success');
    const containerId = up.line.containerId ?? '';

    const watcher = await startWatch(stateDir, [], { json: false });
    // argv[1] of the listening process: ESC sequences (title, clear screen, colour), BEL, a raw
    // 0x9b byte (an 8-bit CSI) and U+009B, as a hostile image could name its server.
    const script =
      'import socket, sys, threading\n' +
      's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n' +
      "s.bind(('127.0.0.1', int(sys.argv[2]))); s.listen(8); threading.Event().wait()\n";
    const name = String.raw`\033]0;owned\007\033[2J\033[1;31mevil\233[0m\302\233`;
    await execa(DOCKER_COMMAND, [
      'exec',
      '--detach',
      containerId,
      'bash',
      '-c',
      `exec python3 -c "$0" "$(printf '${name}')" "$1"`,
      script,
      String(port),
    ]);
    const [row] = await waitForRows(stateDir, containerId, [port ?? 0], 10_000);
    await waitFor(() => / forwarded /.test(watcher.output().toString('utf8')), 5_000, 'the forwarded event');
    const { exitCode } = await watcher.stop();
    expect(exitCode).toBe(0);

    // The machine-readable output keeps the text as it is (JSON escapes it).
    expect(row?.label).toBe(label);
    expect(row?.process ?? '').toMatch(/\u001b\]0;owned/);

    const table = await runCliWith(stateDir, ['ports']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain(String(port));
    expect(table.stdout).toMatch(/red/);
    expect(table.stdout).toMatch(/evil/);
    expect(table.stdout).not.toMatch(CONTROL);
    expect(table.stdout).not.toContain('\u001b');

    const watched = watcher.output().toString('utf8');
    expect(watched).toMatch(/ forwarded /);
    expect(watched).toMatch(/red/);
    expect(watched).not.toMatch(CONTROL);
    expect(watched).not.toContain('\u001b');
  });
});
