import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStateDir, portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { freeHostPort, TEST_RUN_ID, waitFor } from '../support/containers.js';
import { exchange } from '../support/host-client.js';
import { DEBIAN_IMAGE } from '../support/images.js';
import { podmanText, ROOTFUL_PODMAN } from '../support/podman.js';
import { hostLoopbackListens } from '../support/timed-server.js';

/**
 * A Compose dev container on Podman: Debian's podman-compose (1.0.3) cannot serve the Dev Containers
 * CLI (it refuses `version --short`) and Podman 4.3 has no `podman compose`, but Podman's
 * Docker-compatible service takes the docker CLI and docker-compose v1, as Podman documents.
 */
function composeWorkspace(dbPort: number): string {
  const folder = mkdtempSync(join(tmpdir(), 'portpilot-podman-compose-'));
  mkdirSync(join(folder, '.devcontainer'));
  const service = [
    `    image: localhost/${DEBIAN_IMAGE}`,
    // Debian's Podman cannot apply its default limits here ("error setting rlimit type 7").
    '    ulimits: { nofile: 20000, nproc: 4096 }',
    '    labels:',
    "      portpilot.test: '1'",
    `      portpilot.test.run: '${TEST_RUN_ID}'`,
  ];
  writeFileSync(
    join(folder, '.devcontainer', 'docker-compose.yml'),
    [
      "version: '3.8'",
      'services:',
      '  app:',
      ...service,
      '    volumes: ["..:/workspace"]',
      '  db:',
      ...service,
      `    command: ["socat", "TCP-LISTEN:${dbPort},reuseaddr,fork", "SYSTEM:echo db-ok"]`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(folder, '.devcontainer', 'devcontainer.json'),
    JSON.stringify({
      dockerComposeFile: 'docker-compose.yml',
      service: 'app',
      workspaceFolder: '/workspace',
      overrideCommand: true,
      forwardPorts: [`db:${dbPort}`],
    }),
  );
  return folder;
}

describe('a Compose dev container on Podman, through its Docker-compatible service', () => {
  const stateDir = makeStateDir();
  let workspace: string;
  let dbPort: number;
  let service: ResultPromise;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'portpilot-podman-')), 'podman.sock');
    service = execa('podman', ['system', 'service', '--time=0', `unix://${socket}`], { reject: false });
    await waitFor(async () => {
      const ping = await execa('curl', ['-sf', '--unix-socket', socket, 'http://d/_ping'], { reject: false });
      return ping.stdout === 'OK' ? true : null;
    }, 15_000);
    env = { DOCKER_HOST: `unix://${socket}` };
    dbPort = await freeHostPort();
    workspace = composeWorkspace(dbPort);
  });
  afterAll(async () => {
    await runCli(stateDir, ['down', '--workspace-folder', workspace, '--remove'], undefined, env);
    service?.kill();
  });

  it("up forwards the other service's declared port; down removes the project and frees the port", async () => {
    const { run, line } = await runUp(stateDir, ['--workspace-folder', workspace, '--auto-forward'], env);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', remoteWorkspaceFolder: '/workspace' });
    const project = String(line.composeProjectName);
    const inProject = ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`];
    expect((await podmanText(ROOTFUL_PODMAN, inProject)).split('\n')).toHaveLength(2);

    const row = await waitFor(
      async () => (await portsJson(stateDir)).find((r) => r.containerPort === dbPort),
      10_000,
    );
    expect(row).toMatchObject({ service: 'db', origin: 'declared', hostPort: dbPort, path: 'direct' });
    expect((await exchange(dbPort)).toString()).toBe('db-ok\n');

    const down = await runCli(
      stateDir,
      ['down', '--workspace-folder', workspace, '--remove'],
      undefined,
      env,
    );
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processAlive(line.forwarder?.pid ?? 0)).toBe(false);
    expect(hostLoopbackListens(dbPort)).toBe(false);
    expect(await podmanText(ROOTFUL_PODMAN, inProject)).toBe('');
  });
});
