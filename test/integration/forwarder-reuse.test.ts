import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { makeStateDir, portsJson, processAlive, runCli, runUp, type UpLine } from '../support/cli.js';
import {
  TEST_CONTAINER_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL_KEY,
  freeHostPort,
  startServer,
  waitFor,
} from '../support/containers.js';
import { DEBIAN_IMAGE } from '../support/images.js';

// Attaching with --container-id to a workspace's container, before or after `up --workspace-folder`,
// must leave one forwarder as it is: replacing it cuts open connections, may move remapped ports and,
// started without the config's portsAttributes, forwards the ports the user said to ignore.

const stateDir = makeStateDir();
const folders: string[] = [];
const FORWARD_DEADLINE_MS = 10_000;
/** Longer than the 2 s in which a listener must be forwarded: a port still absent then is not forwarded. */
const IGNORED_SETTLE_MS = 4_000;

afterAll(async () => {
  for (const folder of folders) {
    await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
    rmSync(folder, { recursive: true, force: true });
  }
});

/** A workspace whose config forwards `shown` and says to ignore `ignored`. */
function workspace(shown: number, ignored: number): string {
  const folder = mkdtempSync(path.join(tmpdir(), 'portpilot-ws-reuse-'));
  folders.push(folder);
  mkdirSync(path.join(folder, '.devcontainer'));
  const config = {
    image: DEBIAN_IMAGE,
    runArgs: ['--label', TEST_CONTAINER_LABEL, '--label', `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`],
    forwardPorts: [shown],
    portsAttributes: { [String(ignored)]: { onAutoForward: 'ignore' } },
  };
  writeFileSync(path.join(folder, '.devcontainer', 'devcontainer.json'), JSON.stringify(config));
  return folder;
}

async function up(...args: string[]): Promise<{ line: UpLine; stderr: string }> {
  const { run, line } = await runUp(stateDir, args);
  expect(line.outcome, `${line.message ?? ''}\n${run.stderr}`).toBe('success');
  return { line, stderr: run.stderr };
}

/** Starts both servers, waits for `shown` to be forwarded, then checks `ignored` never is. */
async function expectIgnoredUnforwarded(containerId: string, shown: number, ignored: number) {
  const rowsOf = async () => (await portsJson(stateDir)).filter((row) => row.containerId === containerId);
  await waitFor(
    async () => (await rowsOf()).some((row) => row.containerPort === shown),
    FORWARD_DEADLINE_MS,
    `port ${shown} forwarded`,
  );
  await sleep(IGNORED_SETTLE_MS);
  expect((await rowsOf()).map((row) => row.containerPort)).not.toContain(ignored);
}

async function twoPorts(): Promise<[number, number]> {
  const shown = await freeHostPort();
  let ignored = await freeHostPort();
  while (ignored === shown) ignored = await freeHostPort();
  return [shown, ignored];
}

describe('one forwarder for a workspace container, whichever way up names it', () => {
  it('workspace first, then --container-id: the same forwarder, its ignored port still unforwarded', async () => {
    const [shown, ignored] = await twoPorts();
    const folder = workspace(shown, ignored);
    const first = await up('--workspace-folder', folder, '--auto-forward');
    const containerId = first.line.containerId ?? '';
    await startServer(containerId, { port: shown, address: '127.0.0.1', kind: 'echo' });
    await startServer(containerId, { port: ignored, address: '0.0.0.0', kind: 'echo' });

    const attached = await up('--container-id', containerId, '--auto-forward');
    expect(attached.line.forwarder?.pid).toBe(first.line.forwarder?.pid);
    expect(attached.stderr).toContain('Reusing the running forwarder');
    expect(attached.stderr).not.toContain('Replaced');
    await expectIgnoredUnforwarded(containerId, shown, ignored);
  });

  it('--container-id first, then the workspace: the same forwarder, which never forwards the ignored port', async () => {
    const [shown, ignored] = await twoPorts();
    const folder = workspace(shown, ignored);
    const created = await up('--workspace-folder', folder);
    const containerId = created.line.containerId ?? '';
    expect(created.line.forwarder).toBeUndefined();

    const attached = await up('--container-id', containerId, '--auto-forward');
    const pid = attached.line.forwarder?.pid ?? 0;
    expect(processAlive(pid)).toBe(true);
    await startServer(containerId, { port: shown, address: '127.0.0.1', kind: 'echo' });
    await startServer(containerId, { port: ignored, address: '0.0.0.0', kind: 'echo' });
    await expectIgnoredUnforwarded(containerId, shown, ignored);

    const again = await up('--workspace-folder', folder, '--auto-forward');
    expect(again.line.forwarder?.pid).toBe(pid);
    expect(again.stderr).toContain('Reusing the running forwarder');
    await expectIgnoredUnforwarded(containerId, shown, ignored);
  });

  it('replaces the forwarder only for a request that changes something, and says what changed', async () => {
    const [shown, ignored] = await twoPorts();
    const extra = await freeHostPort();
    const folder = workspace(shown, ignored);
    const first = await up('--workspace-folder', folder, '--auto-forward');
    const containerId = first.line.containerId ?? '';

    const added = await up('--container-id', containerId, '--auto-forward', '--forward-port', String(extra));
    expect(added.line.forwarder?.pid).not.toBe(first.line.forwarder?.pid);
    expect(added.stderr).toContain(`Replaced the running forwarder (pid ${first.line.forwarder?.pid})`);
    expect(added.stderr).toContain(`declared ports added: ${extra}`);
    // The attach added a port; the config's ports and attributes stayed.
    const declared = (await portsJson(stateDir))
      .filter((row) => row.containerId === containerId && row.origin === 'declared')
      .map((row) => row.containerPort);
    expect(declared.sort()).toEqual([shown, extra].sort());
    await startServer(containerId, { port: ignored, address: '0.0.0.0', kind: 'echo' });
    await expectIgnoredUnforwarded(containerId, shown, ignored);

    const same = await up('--container-id', containerId, '--auto-forward', '--forward-port', String(extra));
    expect(same.line.forwarder?.pid).toBe(added.line.forwarder?.pid);
  });
});
