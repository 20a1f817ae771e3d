import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portsJson, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  freeHostPort,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { DEBIAN_IMAGE, HELLO_FILE_TEXT } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

/** The container's listener is seen within this (the contract's 2 s, and an exec's latency on a busy host). */
const DETECTION_MS = 10_000;
/** How long a forwarder that read the host's tables would take to forward some of them, at the least. */
const CASCADE_WATCH_MS = 4_000;

/**
 * A docker CLI whose `container inspect` gives `pid` as the container's State.Pid: what a remote
 * engine (or one in another pid namespace) does, where the engine's pid names some unrelated local
 * process. Everything else goes to the real CLI.
 */
function foreignPidDocker(pid: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-foreign-pid-'));
  const path = join(dir, 'docker');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      'if [ "$1 $2" = "container inspect" ]; then',
      `  ${DOCKER_COMMAND} "$@" | sed -E 's/"Pid": [0-9]+/"Pid": ${pid}/'`,
      '  exit 0',
      'fi',
      `exec ${DOCKER_COMMAND} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

function listenerSourceLogged(logFile: string): string | undefined {
  const lines = readFileSync(logFile, 'utf8').trim().split('\n');
  const starting = lines.map((line) => JSON.parse(line) as { listenerSource?: string });
  return starting.find((entry) => entry.listenerSource !== undefined)?.listenerSource;
}

describe("an engine pid that is not the container's in this machine's /proc", () => {
  let hostProcess: ResultPromise;
  let hostPort: number;
  let container: TestContainer;
  let containerPort: number;

  beforeAll(async () => {
    // A host process listening on the host's loopback, started just before the container, so that
    // only its cgroup tells it apart from the container's init.
    hostPort = await freeHostPort();
    hostProcess = execa(
      process.execPath,
      ['-e', `require('net').createServer().listen(${hostPort}, '127.0.0.1', () => console.log('ready'))`],
      { reject: false },
    );
    await new Promise((resolve) => hostProcess.stdout?.once('data', resolve));
    container = await scope.start(DEBIAN_IMAGE);
    containerPort = await freeHostPort();
    await startServer(container.id, { port: containerPort, address: '127.0.0.1', kind: 'http' });
  });
  afterAll(() => {
    hostProcess?.kill();
  });

  it("forwards the container's listeners read through exec, and none of the host's", async () => {
    const dockerPath = foreignPidDocker(hostProcess.pid ?? 0);
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--docker-path',
      dockerPath,
    ]);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: container.id });
    const row = await waitFor(
      async () => (await portsJson(stateDir)).find((r) => r.containerPort === containerPort),
      DETECTION_MS,
    );
    expect(row).toMatchObject({ containerId: container.id, hostPort: containerPort, path: 'mux' });
    expect((await httpGet(containerPort, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    // A forwarder reading the host's own tables forwards the host's listener (remapped, its port is
    // taken), then its own new listeners; give it the time to.
    await new Promise((resolve) => setTimeout(resolve, CASCADE_WATCH_MS));
    const rows = (await portsJson(stateDir)).filter((r) => r.containerId === container.id);
    expect(rows.map((r) => r.containerPort)).toEqual([containerPort]);
    expect(listenerSourceLogged(line.forwarder?.logFile ?? '')).toBe('exec');
  });

  it("reads a local container's tables from this machine's /proc, where its init is proven", async () => {
    const local = await scope.start(DEBIAN_IMAGE);
    const { run, line } = await runUp(stateDir, ['--container-id', local.id, '--auto-forward']);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: local.id });
    expect(listenerSourceLogged(line.forwarder?.logFile ?? '')).toBe('host-proc');
  });
});
