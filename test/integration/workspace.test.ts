import { rmSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { localRunner } from '../../src/runtime/process-runner.js';
import { findComposeCli } from '../../src/workspace/compose.js';
import { configPath, copyWorkspace } from '../fixtures/workspaces/workspace-fixture.js';
import { makeStateDir, portsJson, processAlive, runCli, runUp, type UpLine } from '../support/cli.js';
import { DOCKER_COMMAND, freeHostPort, startContainer, startServer, waitFor } from '../support/containers.js';
import { accepts, exchange, httpGet } from '../support/host-client.js';
import { DEBIAN_IMAGE, HELLO_FILE_TEXT } from '../support/images.js';

const stateDir = makeStateDir();
const workspaces: string[] = [];
const builtImages: string[] = [];
const FORWARD_DEADLINE_MS = 10_000;

/** A port event as the forwarder logs it. */
interface PortEventLine {
  type: string;
  containerPort: number;
  reason?: string;
}

afterAll(async () => {
  for (const folder of workspaces) {
    await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
    rmSync(folder, { recursive: true, force: true });
  }
  for (const image of builtImages)
    await execa(DOCKER_COMMAND, ['image', 'rm', '-f', image], { reject: false });
});

function workspace(name: string, tokens: Record<string, string> = {}): string {
  const folder = copyWorkspace(name, tokens);
  workspaces.push(folder);
  return folder;
}

async function upWorkspace(
  folder: string,
  ...extra: string[]
): Promise<Required<Pick<UpLine, 'containerId'>> & UpLine> {
  const { run, line } = await runUp(stateDir, ['--workspace-folder', folder, '--auto-forward', ...extra]);
  expect(line.outcome, `${line.message ?? ''}\n${run.stderr}`).toBe('success');
  expect(run.exitCode).toBe(0);
  expect(line.containerId).toMatch(/^[0-9a-f]{64}$/);
  return line as Required<Pick<UpLine, 'containerId'>> & UpLine;
}

/** Polls `probe` until it gives a value (not null or undefined), for up to FORWARD_DEADLINE_MS. */
async function eventually<T>(probe: () => Promise<T | null | undefined>, description: string): Promise<T> {
  const value = await waitFor(probe, FORWARD_DEADLINE_MS, description);
  if (value === null || value === undefined) throw new Error(`no value for ${description}`);
  return value;
}

/** The host port of a container port the forwarder started by `up` (its line) forwards. */
async function hostPortOf(line: UpLine, port: number, service: string | null = null): Promise<number> {
  const row = await eventually(
    async () =>
      (await portsJson(stateDir)).find(
        (r) => r.forwarderPid === line.forwarder?.pid && r.containerPort === port && r.service === service,
      ),
    `port ${port}${service ? ` of ${service}` : ''} in ports --json`,
  );
  return row.hostPort;
}

async function inspect(
  containerId: string,
): Promise<{ running: boolean; labels: Record<string, string> } | null> {
  const result = await execa(DOCKER_COMMAND, ['container', 'inspect', containerId], { reject: false });
  if (result.exitCode !== 0) return null;
  const [info] = JSON.parse(result.stdout) as Array<{
    State: { Running: boolean };
    Config: { Labels: Record<string, string> };
  }>;
  return info ? { running: info.State.Running, labels: info.Config.Labels } : null;
}

async function execOutput(folder: string, ...command: string[]): Promise<string> {
  const run = await runCli(stateDir, ['exec', '--workspace-folder', folder, '--', ...command]);
  expect(run.exitCode, run.stderr).toBe(0);
  return run.stdout;
}

describe('an image workspace', () => {
  let folder = '';
  let port = 0;
  let first: UpLine & { containerId: string };

  it('comes up with its postStartCommand server reachable on the host, labelled as declared', async () => {
    port = await freeHostPort();
    folder = workspace('image', { PORT: String(port) });
    first = await upWorkspace(folder);
    expect(first.remoteWorkspaceFolder).toBe(`/workspaces/${path.basename(folder)}`);
    expect(first.forwarder?.pid).toBeGreaterThan(0);

    const hostPort = await hostPortOf(first, port);
    const response = await eventually(async () => {
      const reply = await httpGet(hostPort, '/hello.txt');
      return reply.status === 200 ? reply : null;
    }, `the workspace's server on host port ${hostPort}`);
    expect(response.body).toBe('hello from the image workspace\n');

    const rows = (await portsJson(stateDir)).filter((row) => row.containerId === first.containerId);
    expect(rows).toContainEqual(
      expect.objectContaining({
        containerPort: port,
        origin: 'declared',
        label: 'web',
        hostAddress: '127.0.0.1',
      }),
    );

    const labels = (await inspect(first.containerId))?.labels ?? {};
    expect(labels['devcontainer.local_folder']).toBe(folder);
    expect(labels['devcontainer.config_file']).toBe(configPath(folder));
  });

  it('ran its lifecycle commands in workspaceFolder with containerEnv, and not again on a second up', async () => {
    const expected = [
      `onCreate in /workspaces/${path.basename(folder)}`,
      'postCreate hello from containerEnv',
      'postStart',
    ].join('\n'); // runCli drops the final newline
    expect(await execOutput(folder, 'cat', '/tmp/lifecycle.log')).toBe(expected);

    const again = await upWorkspace(folder);
    expect(again.containerId).toBe(first.containerId);
    expect(again.forwarder?.pid).toBe(first.forwarder?.pid);
    expect(await execOutput(folder, 'cat', '/tmp/lifecycle.log')).toBe(expected);
  });

  it("fails with the reference CLI's error result and leaves the container and forwarder alone when the config is malformed", async () => {
    const file = configPath(folder);
    const good = readFileSync(file, 'utf8');
    const hostPort = await hostPortOf(first, port);
    try {
      writeFileSync(file, '[]');
      const { run, line } = await runUp(stateDir, ['--workspace-folder', folder, '--auto-forward']);
      expect(run.exitCode).toBe(1);
      expect(line.outcome).toBe('error');
      expect(line.message).toContain('must contain a JSON object literal');
      expect(line.description).toBeDefined();
    } finally {
      writeFileSync(file, good);
    }
    expect((await inspect(first.containerId))?.running).toBe(true);
    expect(processAlive(first.forwarder?.pid ?? 0)).toBe(true);
    expect((await httpGet(hostPort, '/hello.txt')).status).toBe(200);
  });

  it('is replaced by --remove-existing-container: new container, old forwarder gone', async () => {
    const oldPid = first.forwarder?.pid ?? 0;
    const replaced = await upWorkspace(folder, '--remove-existing-container');
    expect(replaced.containerId).not.toBe(first.containerId);
    expect(replaced.forwarder?.pid).not.toBe(oldPid);
    expect(processAlive(oldPid)).toBe(false);
    expect(await inspect(first.containerId)).toBeNull();

    const hostPort = await hostPortOf(replaced, port);
    const reply = await eventually(
      async () => ((await httpGet(hostPort, '/hello.txt')).status === 200 ? true : null),
      'the new container to serve',
    );
    expect(reply).toBe(true);
  });
});

describe('two up runs at once for a new workspace', () => {
  it('end with one container, one forwarder, and the create commands run once', async () => {
    const port = await freeHostPort();
    const folder = workspace('image', { PORT: String(port) });
    const runs = await Promise.all([1, 2].map(() => upWorkspace(folder)));
    expect(runs[1]?.containerId).toBe(runs[0]?.containerId);
    expect(runs[1]?.forwarder?.pid).toBe(runs[0]?.forwarder?.pid);
    const log = await execOutput(folder, 'cat', '/tmp/lifecycle.log');
    expect(log.split('\n').filter((line) => line.startsWith('onCreate'))).toHaveLength(1);
    expect(log.split('\n').filter((line) => line === 'postStart')).toHaveLength(1);
  });
});

describe('a Dockerfile workspace', () => {
  it('is built by the reference CLI, tagged as it tags images, and comes up with its server reachable on the host', async () => {
    const port = await freeHostPort();
    const folder = workspace('dockerfile', { PORT: String(port) });
    const line = await upWorkspace(folder);

    const image = await execa(DOCKER_COMMAND, [
      'container',
      'inspect',
      '--format',
      '{{.Config.Image}}',
      line.containerId,
    ]);
    const tag = image.stdout.trim();
    builtImages.push(tag);
    expect(tag).toMatch(/^vsc-portpilot-ws-dockerfile-/);
    const hostPort = await hostPortOf(line, port);
    const reply = await eventually(async () => {
      const response = await httpGet(hostPort, '/built.txt');
      return response.status === 200 ? response : null;
    }, `the built image's server on host port ${hostPort}`);
    expect(reply.body).toBe('built from the Dockerfile\n');
  });
});

describe('a Compose workspace', () => {
  let folder = '';
  let line: UpLine & { containerId: string };

  it('reaches the db service\'s loopback-only port from the host through forwardPorts "db:5432"', async () => {
    folder = workspace('compose');
    line = await upWorkspace(folder);
    expect(line.remoteWorkspaceFolder).toBe('/workspace');

    const hostPort = await hostPortOf(line, 5432, 'db');
    const reply = await eventually(
      async () => (await exchange(hostPort)).toString('utf8') || null,
      `db through host port ${hostPort}`,
    );
    expect(reply).toBe('db-ok\n');
    expect(await execOutput(folder, 'cat', '/tmp/lifecycle.log')).toBe('postCreate in /workspace');
  });

  it("gives devcontainer.json's mounts to the dev container's service, as the reference CLI does", async () => {
    expect(await execOutput(folder, 'cat', '/mnt/shared/hello.txt')).toBe('mounted from the host');
    expect(await execOutput(folder, 'sh', '-c', 'echo written > /mnt/shared-rw/from-container')).toBe('');
    expect(readFileSync(path.join(folder, 'shared', 'from-container'), 'utf8')).toBe('written\n');
  });

  const rowOf = async (port: number) =>
    (await portsJson(stateDir)).find(
      (r) => r.forwarderPid === line.forwarder?.pid && r.containerPort === port && r.service === 'db',
    );

  it("dials the db service's all-addresses port at its IP, and again after db restarts", async () => {
    const hostPort = await hostPortOf(line, 5433, 'db');
    const dbId = (await rowOf(5433))?.containerId ?? '';
    // Loopback-only in its container: no dial from the host reaches it but an exec.
    await eventually(async () => ((await rowOf(5432))?.path === 'exec' ? true : null), 'db:5432 on exec');
    await eventually(async () => ((await rowOf(5433))?.path === 'direct' ? true : null), 'db:5433 direct');
    expect((await exchange(hostPort)).toString('utf8')).toBe('db-any\n');

    await execa(DOCKER_COMMAND, ['restart', '--time', '1', dbId]);
    const reply = await eventually(
      async () => (await exchange(hostPort).catch(() => Buffer.alloc(0))).toString('utf8') || null,
      `db:5433 through host port ${hostPort} after db restarted`,
    );
    expect(reply).toBe('db-any\n');
    // The forwarder saw db go and come back, and dials it at its address as it is now.
    await eventually(
      async () =>
        readFileSync(line.forwarder?.logFile ?? '', 'utf8').includes('service container running again')
          ? true
          : null,
      'the forwarder to follow db',
    );
    expect(readFileSync(line.forwarder?.logFile ?? '', 'utf8')).toContain(
      'service container down: its declared ports wait for it',
    );
    expect((await rowOf(5433))?.path).toBe('direct');
    expect((await exchange(await hostPortOf(line, 5432, 'db'))).toString('utf8')).toBe('db-ok\n');
  });

  it("follows db's ports to the new container when Compose replaces it (up --force-recreate)", async () => {
    const hostPorts = { ok: await hostPortOf(line, 5432, 'db'), any: await hostPortOf(line, 5433, 'db') };
    const before = (await rowOf(5433))?.containerId ?? '';
    const labels = (await inspect(before))?.labels ?? {};
    const files = (labels['com.docker.compose.project.config_files'] ?? '').split(',');
    const compose = await findComposeCli(localRunner, DOCKER_COMMAND);
    await execa(
      compose.file,
      [
        ...compose.prefix,
        '--project-name',
        labels['com.docker.compose.project'] ?? '',
        ...files.flatMap((file) => ['--file', file]),
        'up',
        '--detach',
        '--force-recreate',
        '--no-deps',
        'db',
      ],
      { cwd: labels['com.docker.compose.project.working_dir'] ?? folder },
    );
    const after = await eventually(async () => {
      const id = (await rowOf(5433))?.containerId;
      return id && id !== before ? id : null;
    }, 'ports to show the new db container');
    expect(await inspect(before)).toBeNull();
    expect((await inspect(after))?.running).toBe(true);

    // Same host ports, both paths, into the new container.
    const reply = await eventually(
      async () => (await exchange(hostPorts.any).catch(() => Buffer.alloc(0))).toString('utf8') || null,
      `db:5433 through host port ${hostPorts.any} after db was replaced`,
    );
    expect(reply).toBe('db-any\n');
    expect((await exchange(hostPorts.ok)).toString('utf8')).toBe('db-ok\n');
    expect(await rowOf(5432)).toMatchObject({ containerId: after, hostPort: hostPorts.ok });
    expect(await rowOf(5433)).toMatchObject({ containerId: after, hostPort: hostPorts.any, path: 'direct' });
    expect(readFileSync(line.forwarder?.logFile ?? '', 'utf8')).toContain(
      'service container replaced: forwarding to the new one',
    );
  });

  it('is brought down by down --workspace-folder: forwarder reaped, every container stopped', async () => {
    const project = (await inspect(line.containerId))?.labels['com.docker.compose.project'] ?? '';
    expect(project).not.toBe('');
    expect(line.composeProjectName).toBe(project);
    const ids = (
      await execa(DOCKER_COMMAND, [
        'ps',
        '-aq',
        '--no-trunc',
        '--filter',
        `label=com.docker.compose.project=${project}`,
      ])
    ).stdout
      .split('\n')
      .filter(Boolean);
    expect(ids).toHaveLength(2);
    const hostPort = await hostPortOf(line, 5432, 'db');

    const down = await runCli(stateDir, ['down', '--workspace-folder', folder]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(line.forwarder?.pid ?? 0)).toBe(false);
    for (const id of ids) expect((await inspect(id))?.running).toBe(false);
    expect(await accepts(hostPort)).toBe(false);
  });

  it('leaves no container or network of its Compose project after down --remove', async () => {
    const project = line.composeProjectName ?? '';
    const down = await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
    expect(down.exitCode, down.stderr).toBe(0);
    const filter = `label=com.docker.compose.project=${project}`;
    const left = await execa(DOCKER_COMMAND, ['ps', '-aq', '--filter', filter]);
    expect(left.stdout.trim()).toBe('');
    const networks = await execa(DOCKER_COMMAND, ['network', 'ls', '-q', '--filter', filter]);
    expect(networks.stdout.trim()).toBe('');
  });
});

describe('a container made by plain docker run with the devcontainer labels', () => {
  it('is found by up --workspace-folder and gets a forwarder', async () => {
    const port = await freeHostPort();
    const folder = workspace('labelled', { PORT: String(port) });
    const container = await startContainer(DEBIAN_IMAGE, {
      labels: { 'devcontainer.local_folder': folder, 'devcontainer.config_file': configPath(folder) },
    });
    const line = await upWorkspace(folder);
    expect(line.containerId).toBe(container.id);
    expect(processAlive(line.forwarder?.pid ?? 0)).toBe(true);

    await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    const hostPort = await hostPortOf(line, port);
    const reply = await eventually(async () => {
      const response = await httpGet(hostPort, '/hello.txt');
      return response.status === 200 ? response : null;
    }, `the server of the docker-run container on host port ${hostPort}`);
    expect(reply.body).toBe(HELLO_FILE_TEXT);
    const row = (await portsJson(stateDir)).find((r) => r.containerId === container.id);
    expect(row).toMatchObject({ origin: 'declared', label: 'made by docker run' });
  });
});

/**
 * Two containers whose labels name `folder`'s workspace: `inside` as the Dev Containers CLI labels
 * one, `outside` as an image could carry them (a config file outside the folder they name).
 */
async function labelledContainers(folder: string) {
  const inside = await startContainer(DEBIAN_IMAGE, {
    labels: { 'devcontainer.local_folder': folder, 'devcontainer.config_file': configPath(folder) },
  });
  const outside = await startContainer(DEBIAN_IMAGE, {
    labels: {
      'devcontainer.local_folder': path.join(folder, 'sub'),
      'devcontainer.config_file': configPath(folder),
    },
  });
  return { inside, outside };
}

describe('up --container-id on a container whose labels name a workspace', () => {
  it("applies that workspace's port attributes only when its config lies inside its folder", async () => {
    const port = await freeHostPort();
    const folder = workspace('labelled', { PORT: String(port) });
    const { inside, outside } = await labelledContainers(folder);
    for (const container of [inside, outside]) {
      const { run, line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
      expect(line.outcome, run.stderr).toBe('success');
      await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
    }
    const rowOf = (id: string) =>
      eventually(async () => (await portsJson(stateDir)).find((r) => r.containerId === id), `a row of ${id}`);
    expect(await rowOf(inside.id)).toMatchObject({ origin: 'declared', label: 'made by docker run' });
    expect(await rowOf(outside.id)).toMatchObject({ origin: 'detected', label: null });
    for (const container of [inside, outside]) {
      await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
    }
  });
});

describe('up --container-id on a container made for a workspace with reverse ports', () => {
  it("serves that workspace's reversePorts, and only when its config lies inside its folder", async () => {
    const [hostPort, containerPort] = [await freeHostPort(), await freeHostPort()];
    const folder = workspace('labelled-reverse', {
      HOST_PORT: String(hostPort),
      CONTAINER_PORT: String(containerPort),
    });
    const { inside, outside } = await labelledContainers(folder);
    for (const container of [inside, outside]) {
      const { run, line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
      expect(line.outcome, run.stderr).toBe('success');
    }
    const reverseOf = async (id: string) =>
      (await portsJson(stateDir)).filter((r) => r.containerId === id && r.direction === 'reverse');
    expect(await reverseOf(inside.id)).toMatchObject([{ hostPort, containerPort, direction: 'reverse' }]);
    expect(await reverseOf(outside.id)).toEqual([]);
    for (const container of [inside, outside]) {
      await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
    }
  });
});

describe('a workspace with a numeric appPort', () => {
  it('is reached where the engine publishes it, and not forwarded a second time', async () => {
    const [published, other] = [await freeHostPort(), await freeHostPort()];
    const folder = workspace('labelled', { PORT: String(published) });
    const file = configPath(folder);
    writeFileSync(
      file,
      JSON.stringify({
        image: DEBIAN_IMAGE,
        runArgs: ['--label', 'portpilot.test=1'],
        appPort: published,
      }),
    );
    const line = await upWorkspace(folder);
    // The engine relays its published port to the container's address, so that server listens on all.
    await startServer(line.containerId, { port: published, address: '0.0.0.0', kind: 'http' });
    await startServer(line.containerId, { port: other, address: '127.0.0.1', kind: 'http' });
    // The unpublished port is forwarded: by then the forwarder has read both listeners.
    expect(await hostPortOf(line, other)).toBe(other);
    expect((await httpGet(published, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    const rows = (await portsJson(stateDir)).filter((row) => row.containerId === line.containerId);
    expect(rows.map((row) => row.containerPort)).toEqual([other]);

    const log = path.join(stateDir, 'forwarders', `${line.containerId}.log`);
    const failedEvents = () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((text) => text.includes('"portEvent"'))
        .map((text) => (JSON.parse(text) as { portEvent: PortEventLine }).portEvent)
        .filter((event) => event.type === 'failed');
    const failed = await eventually(
      async () => Promise.resolve(failedEvents().length > 0 ? failedEvents() : null),
      'a failed event in the forwarder log',
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]?.containerPort).toBe(published);
    expect(failed[0]?.reason).toContain(`:${published}`);
    expect(failed[0]?.reason).toMatch(/published by the engine/);
  });
});

describe('a failing lifecycle command', () => {
  it('fails up with the command and its exit code', async () => {
    const folder = workspace('labelled', { PORT: String(await freeHostPort()) });
    const file = configPath(folder);
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    config.runArgs = ['--label', 'portpilot.test=1'];
    config.postCreateCommand = 'echo about to fail >&2; exit 3';
    writeFileSync(file, JSON.stringify(config));
    const { run, line } = await runUp(stateDir, ['--workspace-folder', folder, '--auto-forward']);
    expect(run.exitCode).toBe(1);
    expect(line.outcome).toBe('error');
    expect(line.message).toContain('exit 3');
    expect(run.stderr).toContain('postCreateCommand');
    expect(run.stderr).toContain('about to fail');
  });
});
