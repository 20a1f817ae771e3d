import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceCliPath } from '../../src/devcontainer/reference-cli.js';
import { CLI, makeStateDir, portsJson, processAlive, runCli, runUp, type UpLine } from '../support/cli.js';
import {
  DOCKER_COMMAND,
  TEST_CONTAINER_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL_KEY,
  freeHostPort,
  startServer,
  waitFor,
} from '../support/containers.js';
import { accepts, httpGet } from '../support/host-client.js';
import { DEBIAN_IMAGE, HELLO_FILE_TEXT } from '../support/images.js';

// Configurations as the reference CLI's own tests use them: a local Feature ("./hello"), an image
// whose devcontainer.metadata label declares remoteUser and forwardPorts, a workspace in a git
// repository's subfolder. One container per configuration, shared by the tests that look at it.
const stateDir = makeStateDir();
const folders: string[] = [];
const images: string[] = [];
const containers = new Set<string>();
const RUN_ARGS = ['--label', TEST_CONTAINER_LABEL, '--label', `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`];
const METADATA_IMAGE = `portpilot-test/metadata:${TEST_RUN_ID}`;
const DEADLINE_MS = 10_000;
let metadataPort = 0;

beforeAll(async () => {
  metadataPort = await freeHostPort();
  const context = tempFolder('portpilot-metadata-image-');
  const metadata = JSON.stringify([{ remoteUser: 'vscode', forwardPorts: [metadataPort] }]);
  writeFileSync(
    path.join(context, 'Dockerfile'),
    [
      `FROM ${DEBIAN_IMAGE}`,
      'RUN useradd -m -s /bin/sh vscode',
      'VOLUME /data',
      `LABEL devcontainer.metadata='${metadata}'`,
      '',
    ].join('\n'),
  );
  await execa(DOCKER_COMMAND, ['build', '-q', '-t', METADATA_IMAGE, context]);
  images.push(METADATA_IMAGE);
});

afterAll(async () => {
  for (const id of containers) await runCli(stateDir, ['down', '--container-id', id, '--remove']);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  const built = await execa(DOCKER_COMMAND, ['images', '-q', '--filter', 'reference=vsc-portpilot-ref-*'], {
    reject: false,
  });
  const ids = built.stdout.split('\n').filter(Boolean);
  await execa(DOCKER_COMMAND, ['image', 'rm', '-f', ...images, ...ids], { reject: false });
});

function tempFolder(prefix: string): string {
  const folder = mkdtempSync(path.join(tmpdir(), prefix));
  folders.push(folder);
  return folder;
}

/** A workspace folder (under `parent` when given) with this devcontainer.json and extra files. */
function workspace(config: Record<string, unknown>, files: Record<string, string> = {}, parent?: string) {
  const folder = parent ?? tempFolder('portpilot-ref-');
  mkdirSync(path.join(folder, '.devcontainer'), { recursive: true });
  writeFileSync(path.join(folder, '.devcontainer', 'devcontainer.json'), JSON.stringify(config));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(folder, name)), { recursive: true });
    writeFileSync(path.join(folder, name), text, { mode: 0o755 });
  }
  return folder;
}

async function up(args: string[]): Promise<UpLine & { containerId: string }> {
  const { run, line } = await runUp(stateDir, args);
  expect(line.outcome, `${line.message ?? ''}\n${run.stderr}`).toBe('success');
  expect(run.exitCode).toBe(0);
  containers.add(line.containerId ?? '');
  return line as UpLine & { containerId: string };
}

async function exec(args: string[]): Promise<string> {
  const run = await runCli(stateDir, ['exec', ...args]);
  expect(run.exitCode, run.stderr).toBe(0);
  return run.stdout;
}

/** The reference CLI itself, as a user runs it: `devcontainer exec …`. */
async function referenceExec(args: string[]): Promise<string> {
  const run = await execa(process.execPath, [referenceCliPath(), 'exec', ...args], { reject: false });
  expect(run.exitCode, run.stderr).toBe(0);
  return run.stdout.trim();
}

/** The parts of `docker container inspect` these tests read. */
interface Inspected {
  HostConfig?: { Init?: boolean; CapAdd?: string[] };
  Config?: { Labels?: Record<string, string> };
  Mounts?: Array<{ Type: string; Name?: string }>;
}

async function inspect(id: string): Promise<Inspected | null> {
  const result = await execa(DOCKER_COMMAND, ['container', 'inspect', id], { reject: false });
  return result.exitCode === 0 ? ((JSON.parse(result.stdout) as Inspected[])[0] ?? null) : null;
}

/** The host port the forwarder of `line` gives container port `port`, once it is listed. */
async function hostPortOf(line: UpLine, port: number): Promise<number> {
  const row = await waitFor(
    async () =>
      (await portsJson(stateDir)).find(
        (r) => r.forwarderPid === line.forwarder?.pid && r.containerPort === port,
      ),
    DEADLINE_MS,
    `port ${port} in ports --json`,
  );
  if (!row) throw new Error(`port ${port} was never listed`);
  return row.hostPort;
}

async function serves(hostPort: number): Promise<string> {
  const reply = await waitFor(
    async () => {
      const response = await httpGet(hostPort, '/hello.txt').catch(() => null);
      return response?.status === 200 ? response.body : null;
    },
    DEADLINE_MS,
    `an answer on host port ${hostPort}`,
  );
  return reply ?? '';
}

const HELLO_FEATURE = {
  '.devcontainer/hello/devcontainer-feature.json': JSON.stringify({
    id: 'hello',
    version: '1.0.0',
    name: 'Hello',
    options: { greeting: { type: 'string', default: 'hello' } },
  }),
  '.devcontainer/hello/install.sh': [
    '#!/bin/sh',
    'set -e',
    `printf '#!/bin/sh\\necho "%s, $(id -un)"\\n' "$GREETING" > /usr/local/bin/hello`,
    'chmod +x /usr/local/bin/hello',
    '',
  ].join('\n'),
};

describe('a local Feature on an image whose metadata declares remoteUser and forwardPorts', () => {
  let folder = '';
  let line: UpLine & { containerId: string };

  it('comes up with the Feature installed, as the image says: remoteUser in the result, exec as vscode', async () => {
    folder = workspace(
      {
        image: METADATA_IMAGE,
        runArgs: RUN_ARGS,
        features: { './hello': { greeting: 'hey' } },
        remoteEnv: { REMOTE_GREETING: 'from remoteEnv' },
        init: true,
        capAdd: ['NET_ADMIN'],
        initializeCommand: 'echo initialized > initialize.out',
        postAttachCommand: 'echo attached >> /tmp/attach.log',
      },
      HELLO_FEATURE,
    );
    line = await up(['--workspace-folder', folder, '--auto-forward']);
    expect(line.remoteUser).toBe('vscode');
    expect(line.remoteWorkspaceFolder).toBe(`/workspaces/${path.basename(folder)}`);
    expect(await exec(['--workspace-folder', folder, 'hello'])).toBe('hey, vscode');
    expect(await exec(['--workspace-folder', folder, 'id', '-un'])).toBe('vscode');
    expect(await referenceExec(['--workspace-folder', folder, 'hello'])).toBe('hey, vscode');
  });

  it("forwards the port the image's metadata declares", async () => {
    await startServer(line.containerId, { port: metadataPort, address: '127.0.0.1', kind: 'http' });
    const hostPort = await hostPortOf(line, metadataPort);
    expect(await serves(hostPort)).toBe(HELLO_FILE_TEXT);
    const row = (await portsJson(stateDir)).find((r) => r.containerPort === metadataPort);
    expect(row?.origin).toBe('declared');
  });

  it('applies remoteEnv, init, capAdd, initializeCommand and postAttachCommand as the reference does', async () => {
    expect(await exec(['--workspace-folder', folder, 'sh', '-c', 'echo "$REMOTE_GREETING"'])).toBe(
      'from remoteEnv',
    );
    const info = await inspect(line.containerId);
    expect(info?.HostConfig?.Init).toBe(true);
    expect(info?.HostConfig?.CapAdd?.map((cap) => cap.replace(/^CAP_/, ''))).toContain('NET_ADMIN');
    expect(existsSync(path.join(folder, 'initialize.out'))).toBe(true);
    expect(await exec(['--workspace-folder', folder, 'cat', '/tmp/attach.log'])).toBe('attached');
  });

  it('is gone after down --remove: no container, no anonymous volume', async () => {
    const info = await inspect(line.containerId);
    const volumes = (info?.Mounts ?? [])
      .filter((mount) => mount.Type === 'volume')
      .map((mount) => mount.Name ?? '');
    expect(volumes.length).toBeGreaterThan(0);
    const down = await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await inspect(line.containerId)).toBeNull();
    for (const volume of volumes) {
      const found = await execa(DOCKER_COMMAND, ['volume', 'inspect', volume], { reject: false });
      expect(found.exitCode, `volume ${volume}`).not.toBe(0);
    }
  });
});

describe('a workspace in a subfolder of a git repository', () => {
  let repo = '';

  beforeAll(async () => {
    repo = tempFolder('portpilot-ref-repo-');
    await execa('git', ['init', '-q', repo]);
  });

  it('mounts the repository root and works in its subfolder: up, exec, the reference exec, the forwarder', async () => {
    const port = await freeHostPort();
    const folder = workspace(
      { image: DEBIAN_IMAGE, runArgs: RUN_ARGS, forwardPorts: [port] },
      {},
      path.join(repo, 'web'),
    );
    const line = await up(['--workspace-folder', folder, '--auto-forward']);
    const inContainer = `/workspaces/${path.basename(repo)}/web`;
    expect(line.remoteWorkspaceFolder).toBe(inContainer);
    expect(await exec(['--workspace-folder', folder, 'pwd'])).toBe(inContainer);
    expect(await referenceExec(['--workspace-folder', folder, 'pwd'])).toBe(inContainer);
    await startServer(line.containerId, { port, address: '127.0.0.1', kind: 'http' });
    expect(await serves(await hostPortOf(line, port))).toBe(HELLO_FILE_TEXT);
  });

  it("works on a container the reference CLI made: portpilot's exec and up find it", async () => {
    const folder = workspace({ image: DEBIAN_IMAGE, runArgs: RUN_ARGS }, {}, path.join(repo, 'api'));
    const made = await execa(process.execPath, [referenceCliPath(), 'up', '--workspace-folder', folder]);
    const result = JSON.parse(made.stdout.trim().split('\n').pop() ?? '{}') as { containerId: string };
    containers.add(result.containerId);
    expect(await exec(['--workspace-folder', folder, 'pwd'])).toBe(`/workspaces/${path.basename(repo)}/api`);
    const line = await up(['--workspace-folder', folder]);
    expect(line.containerId).toBe(result.containerId);
  });
});

describe("flags portpilot does not own, passed to the reference CLI's up", () => {
  it('change what it does: --id-label, --skip-post-create, --log-format json, then --remote-env', async () => {
    const folder = workspace({
      image: DEBIAN_IMAGE,
      runArgs: RUN_ARGS,
      postCreateCommand: 'echo "created $PASSED" >> /tmp/created.log',
    });
    const idLabel = `portpilot.test.id=${TEST_RUN_ID}-${path.basename(folder)}`;
    const { run, line } = await runUp(stateDir, [
      '--workspace-folder',
      folder,
      '--id-label',
      idLabel,
      '--skip-post-create',
      '--log-format',
      'json',
    ]);
    expect(line.outcome, run.stderr).toBe('success');
    const id = line.containerId ?? '';
    containers.add(id);
    expect((await inspect(id))?.Config?.Labels?.['portpilot.test.id']).toBe(idLabel.split('=')[1]);
    const logLines = run.stderr.split('\n').filter((text) => text.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    expect(JSON.parse(logLines[0] ?? '{}')).toHaveProperty('type');
    const absent = await runCli(stateDir, ['exec', '--container-id', id, 'cat', '/tmp/created.log']);
    expect(absent.exitCode).not.toBe(0);

    const again = await up([
      '--workspace-folder',
      folder,
      '--id-label',
      idLabel,
      '--remote-env',
      'PASSED=yes',
    ]);
    expect(again.containerId).toBe(id);
    expect(await exec(['--container-id', id, 'cat', '/tmp/created.log'])).toBe('created yes');
  });
});

describe('a Feature from a registry this machine cannot reach', () => {
  it('fails up with exit code 1, naming the Feature and the registry, and leaves no container', async () => {
    const feature = 'ghcr.io/devcontainers/features/node:1';
    const folder = workspace({ image: DEBIAN_IMAGE, runArgs: RUN_ARGS, features: { [feature]: {} } });
    const { run, line } = await runUp(stateDir, ['--workspace-folder', folder, '--auto-forward']);
    expect(run.exitCode).toBe(1);
    expect(line.outcome).toBe('error');
    expect(line.message).toContain(`'${feature}'`);
    expect(line.message).toContain('registry ghcr.io is unreachable');
    const left = await execa(DOCKER_COMMAND, [
      'ps',
      '-aq',
      '--filter',
      `label=devcontainer.local_folder=${folder}`,
    ]);
    expect(left.stdout.trim()).toBe('');
  });
});

describe('a rebuild under a running forwarder', () => {
  it('moves forwarding to the new container: the same host port answers from it within 5 s, one forwarder', async () => {
    const port = await freeHostPort();
    const folder = workspace({
      image: DEBIAN_IMAGE,
      runArgs: RUN_ARGS,
      forwardPorts: [port],
      postStartCommand: `nohup python3 -m http.server ${port} --bind 127.0.0.1 --directory /etc >/tmp/srv.log 2>&1 &`,
    });
    const first = await up(['--workspace-folder', folder, '--auto-forward']);
    const hostPort = await hostPortOf(first, port);
    const hostnameOn = async () => (await httpGet(hostPort, '/hostname').catch(() => null))?.body.trim();
    expect(await waitFor(hostnameOn, DEADLINE_MS, 'the first container to serve')).toBe(
      first.containerId.slice(0, 12),
    );

    const rebuilt = await execa(process.execPath, [
      referenceCliPath(),
      'up',
      '--workspace-folder',
      folder,
      '--remove-existing-container',
    ]);
    const replacement = (
      JSON.parse(rebuilt.stdout.trim().split('\n').pop() ?? '{}') as { containerId: string }
    ).containerId;
    containers.add(replacement);
    expect(replacement).not.toBe(first.containerId);
    const answered = await waitFor(
      async () => ((await hostnameOn()) === replacement.slice(0, 12) ? true : null),
      5_000,
      `host port ${hostPort} to answer from the new container`,
    );
    expect(answered).toBe(true);

    const rows = (await portsJson(stateDir)).filter((row) => row.containerPort === port);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ containerId: replacement, hostPort });
    expect(processAlive(first.forwarder?.pid ?? 0)).toBe(false);
    const again = await up(['--workspace-folder', folder, '--auto-forward']);
    expect(again.containerId).toBe(replacement);
    expect(again.forwarder?.pid).toBe(rows[0]?.forwarderPid);
  });

  it('releases its host ports as soon as the workspace container is removed with no replacement', async () => {
    const port = await freeHostPort();
    const folder = workspace({ image: DEBIAN_IMAGE, runArgs: RUN_ARGS, forwardPorts: [port] });
    const line = await up(['--workspace-folder', folder, '--auto-forward']);
    const hostPort = await hostPortOf(line, port);
    expect(await accepts(hostPort)).toBe(true);
    await execa(DOCKER_COMMAND, ['rm', '-f', line.containerId]);
    const released = await waitFor(
      async () => !(await accepts(hostPort)),
      5_000,
      `host port ${hostPort} freed`,
    );
    expect(released).toBe(true);
    // The forwarder closes its listeners first, then takes its entries out of the registry.
    const listed = async () =>
      (await portsJson(stateDir)).filter((row) => row.containerId === line.containerId);
    await waitFor(async () => ((await listed()).length === 0 ? true : null), 5_000, 'its entries to go');
    expect(await listed()).toEqual([]);
  });
});

/** The command lines of every process on this machine that contain `text`. */
function processesShowing(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

describe('containerEnv and remoteEnv values', () => {
  it('are on no process command line while the container runs and while exec runs, yet reach the command', async () => {
    const containerSecret = `ce-${randomBytes(8).toString('hex')}`;
    const remoteSecret = `re-${randomBytes(8).toString('hex')}`;
    const folder = workspace({
      image: DEBIAN_IMAGE,
      runArgs: RUN_ARGS,
      containerEnv: { CONTAINER_SECRET: containerSecret },
      remoteEnv: { REMOTE_SECRET: remoteSecret },
    });
    await up(['--workspace-folder', folder]);
    // `docker run -a …`, which the reference CLI leaves running as long as the container, included.
    expect(processesShowing(containerSecret)).toEqual([]);
    expect(processesShowing(remoteSecret)).toEqual([]);

    const running = execa(
      process.execPath,
      [
        CLI,
        'exec',
        '--workspace-folder',
        folder,
        'sh',
        '-c',
        'echo "$CONTAINER_SECRET $REMOTE_SECRET"; sleep 4',
      ],
      { env: { PORTPILOT_STATE_DIR: stateDir }, reject: false },
    );
    let seen: string[] = [];
    for (let i = 0; i < 20 && running.exitCode === undefined; i++) {
      seen = [...seen, ...processesShowing(containerSecret), ...processesShowing(remoteSecret)];
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const result = await running;
    expect(result.stdout.trim()).toBe(`${containerSecret} ${remoteSecret}`);
    expect(seen).toEqual([]);
  });
});
