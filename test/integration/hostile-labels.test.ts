import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  TEST_CONTAINER_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL_KEY,
} from '../support/containers.js';
import { DEBIAN_IMAGE } from '../support/images.js';

// A container's labels are whatever its creator wrote, and Docker copies an image's labels to every
// container made from it: labels must not steer what portpilot does on the host.

const scope = containerScope();
const folders: string[] = [];
const images: string[] = [];
const TEST_LABELS = ['--label', TEST_CONTAINER_LABEL, '--label', `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`];
const TOKEN = `token-${randomBytes(12).toString('hex')}`;

afterAll(async () => {
  for (const folder of folders) {
    await runCli(scope.stateDir, ['down', '--workspace-folder', folder, '--remove']);
    rmSync(folder, { recursive: true, force: true });
  }
  for (const image of images) await execa(DOCKER_COMMAND, ['image', 'rm', '-f', image], { reject: false });
});

function tempFolder(prefix: string): string {
  const folder = mkdtempSync(path.join(tmpdir(), prefix));
  folders.push(folder);
  return folder;
}

/** A workspace folder whose .devcontainer/devcontainer.json is `config`; returns the folder. */
function workspace(config: Record<string, unknown>): string {
  const folder = tempFolder('portpilot-ws-hostile-');
  mkdirSync(path.join(folder, '.devcontainer'));
  writeFileSync(path.join(folder, '.devcontainer', 'devcontainer.json'), JSON.stringify(config));
  return folder;
}

/** Builds an image from the Debian test image that carries `labels`, as a published image could. */
async function imageWithLabels(labels: Record<string, string>): Promise<string> {
  const tag = `portpilot-test-hostile:${TEST_RUN_ID}-${images.length}`;
  const flags = Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]);
  await execa(DOCKER_COMMAND, ['build', '-q', '-t', tag, ...flags, '-'], { input: `FROM ${DEBIAN_IMAGE}\n` });
  images.push(tag);
  return tag;
}

async function isRunning(containerId: string): Promise<boolean> {
  const result = await execa(
    DOCKER_COMMAND,
    ['container', 'inspect', '-f', '{{.State.Running}}', containerId],
    {
      reject: false,
    },
  );
  return result.stdout.trim() === 'true';
}

describe('a foreign com.docker.compose.project label', () => {
  const victimProject = `portpilot-victim-${TEST_RUN_ID}`.toLowerCase();
  const projectLabel = { 'com.docker.compose.project': victimProject };

  it.each([
    ['from its image', async () => ({ image: await imageWithLabels(projectLabel), runArgs: TEST_LABELS })],
    [
      'from docker run --label',
      async () => ({
        image: DEBIAN_IMAGE,
        runArgs: [...TEST_LABELS, '--label', `com.docker.compose.project=${victimProject}`],
      }),
    ],
  ])('%s: down --remove leaves the other project alone', async (_how, makeConfig) => {
    const victim = await scope.start(DEBIAN_IMAGE, {
      labels: { ...projectLabel, 'com.docker.compose.service': 'db' },
    });
    const folder = workspace(await makeConfig());
    const { run, line } = await runUp(scope.stateDir, ['--workspace-folder', folder]);
    expect(line.outcome, run.stderr).toBe('success');

    const down = await runCli(scope.stateDir, ['down', '--workspace-folder', folder, '--remove']);
    expect(down.exitCode, down.stderr).toBe(0);
    const result = JSON.parse(down.stdout) as { containers: Array<{ containerId: string; action: string }> };
    expect(result.containers).toEqual([
      expect.objectContaining({ containerId: line.containerId, action: 'removed' }),
    ]);
    expect(await isRunning(victim.id)).toBe(true);
  });
});

describe('labels naming a devcontainer.json', () => {
  /** A config that would send the host's token into the container, in a folder of its own. */
  function plantedConfig(): string {
    const folder = workspace({
      image: DEBIAN_IMAGE,
      workspaceFolder: '/',
      containerEnv: { STOLEN: '${localEnv:PORTPILOT_TEST_TOKEN}' },
      // What exec applies to a container it did not create: the configuration's remoteEnv.
      remoteEnv: { STOLEN: '${localEnv:PORTPILOT_TEST_TOKEN}' },
    });
    return path.join(folder, '.devcontainer', 'devcontainer.json');
  }

  async function execStolen(containerId: string) {
    return runCli(
      scope.stateDir,
      ['exec', '--container-id', containerId, '--', 'sh', '-c', 'printf "[%s]" "$STOLEN"'],
      undefined,
      { PORTPILOT_TEST_TOKEN: TOKEN },
    );
  }

  it('exec --container-id does not follow a config_file outside the local_folder (docker run --label)', async () => {
    const config = plantedConfig();
    const elsewhere = tempFolder('portpilot-ws-claimed-');
    const container = await scope.start(DEBIAN_IMAGE, {
      labels: { 'devcontainer.local_folder': elsewhere, 'devcontainer.config_file': config },
    });
    const run = await execStolen(container.id);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('[]');
    expect(run.stderr).toContain(`lies outside its devcontainer.local_folder label (${elsewhere})`);

    // Nor does up --container-id take its forwardPorts or portsAttributes.
    const up = await runUp(scope.stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(up.line.outcome, up.run.stderr).toBe('success');
    expect(up.run.stderr).toContain('lies outside');
  });

  it("exec --container-id does not follow workspace labels that come from the container's image", async () => {
    const config = plantedConfig();
    const image = await imageWithLabels({
      'devcontainer.local_folder': path.dirname(path.dirname(config)),
      'devcontainer.config_file': config,
    });
    const container = await scope.start(image);
    const run = await execStolen(container.id);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('[]');
    expect(run.stderr).toContain('label comes from its image');
  });

  it('exec --container-id follows labels that name the workspace the container was made for', async () => {
    const config = plantedConfig();
    const container = await scope.start(DEBIAN_IMAGE, {
      labels: {
        'devcontainer.local_folder': path.dirname(path.dirname(config)),
        'devcontainer.config_file': config,
      },
    });
    const run = await execStolen(container.id);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe(`[${TOKEN}]`);
    expect(run.stderr).toBe('');
  });
});
