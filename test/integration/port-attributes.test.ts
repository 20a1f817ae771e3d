import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStateDir, portsJson, runCli, runUp, type PortRow } from '../support/cli.js';
import { DOCKER_COMMAND, freeHostPort, startServer, waitFor } from '../support/containers.js';
import { accepts, httpGet } from '../support/host-client.js';
import { DEBIAN_IMAGE, HELLO_FILE_TEXT } from '../support/images.js';

const stateDir = makeStateDir();
const folder = mkdtempSync(join(tmpdir(), 'portpilot-ws-attributes-'));
const REGEX_MARKER = 'portpilot-regex-marker';
const ports = { ignored: 0, silent: 0, ranged: 0, regex: 0, other: 0, required: 0 };
let containerId = '';
let logFile = '';
let blocker: Server | null = null;

interface LoggedEvent {
  type: string;
  containerPort: number;
  hostPort: number | null;
  notify?: boolean;
  reason?: string;
}

function events(): LoggedEvent[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"portEvent"'))
    .map((line) => (JSON.parse(line) as { portEvent: LoggedEvent }).portEvent);
}

async function row(port: number): Promise<PortRow> {
  return waitFor(
    async () =>
      (await portsJson(stateDir)).find((r) => r.containerId === containerId && r.containerPort === port),
    5_000,
    `port ${port} forwarded`,
  );
}

beforeAll(async () => {
  for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freeHostPort();
  // The required port is taken on the host before the forwarder starts, so it cannot be had.
  blocker = createServer();
  await new Promise<void>((resolve) => blocker?.listen({ host: '127.0.0.1', port: ports.required }, resolve));
  mkdirSync(join(folder, '.devcontainer'));
  writeFileSync(
    join(folder, '.devcontainer', 'devcontainer.json'),
    JSON.stringify({
      image: DEBIAN_IMAGE,
      runArgs: ['--label', 'portpilot.test=1'],
      forwardPorts: [ports.required],
      portsAttributes: {
        [String(ports.ignored)]: { onAutoForward: 'ignore' },
        [String(ports.silent)]: { onAutoForward: 'silent', label: 'quiet one' },
        [`${ports.ranged - 1}-${ports.ranged + 1}`]: { label: 'from a range' },
        [REGEX_MARKER]: { label: 'from a regex' },
        [String(ports.required)]: { requireLocalPort: true, label: 'must be exact' },
      },
      otherPortsAttributes: { label: 'the rest' },
    }),
  );
  const { run, line } = await runUp(stateDir, ['--workspace-folder', folder, '--auto-forward']);
  expect(line.outcome, run.stderr).toBe('success');
  containerId = line.containerId ?? '';
  logFile = line.forwarder?.logFile ?? '';
  const server = (port: number) => startServer(containerId, { port, address: '127.0.0.1', kind: 'http' });
  await server(ports.ignored);
  await server(ports.silent);
  await server(ports.ranged);
  await server(ports.other);
  await execa(DOCKER_COMMAND, ['exec', containerId, 'mkdir', '-p', `/tmp/${REGEX_MARKER}`]);
  await execa(DOCKER_COMMAND, [
    'exec',
    '-d',
    containerId,
    'python3',
    '-m',
    'http.server',
    String(ports.regex),
    '--bind',
    '127.0.0.1',
    '--directory',
    `/tmp/${REGEX_MARKER}`,
  ]);
});

afterAll(async () => {
  blocker?.close();
  await runCli(stateDir, ['down', '--workspace-folder', folder, '--remove']);
  rmSync(folder, { recursive: true, force: true });
});

describe('portsAttributes', () => {
  it('labels a port by a range key and forwards it', async () => {
    expect(await row(ports.ranged)).toMatchObject({ label: 'from a range', hostPort: ports.ranged });
    expect((await httpGet(ports.ranged, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });

  it('labels a port by a regex key matched on the listening command line', async () => {
    const forwarded = await row(ports.regex);
    expect(forwarded.label).toBe('from a regex');
    expect(forwarded.process).toContain(REGEX_MARKER);
  });

  it('applies otherPortsAttributes to a port no key matched', async () => {
    expect(await row(ports.other)).toMatchObject({ label: 'the rest' });
  });

  it('forwards a silent port without a notification', async () => {
    expect(await row(ports.silent)).toMatchObject({ label: 'quiet one' });
    const forwarded = events().find((e) => e.type === 'forwarded' && e.containerPort === ports.silent);
    expect(forwarded?.notify).toBe(false);
    const other = events().find((e) => e.type === 'forwarded' && e.containerPort === ports.other);
    expect(other?.notify).toBe(true);
  });

  it('never auto-forwards an ignored port', async () => {
    await row(ports.other); // the forwarder has seen every server by now
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const rows = await portsJson(stateDir);
    expect(rows.some((r) => r.containerId === containerId && r.containerPort === ports.ignored)).toBe(false);
    expect(events().some((e) => e.containerPort === ports.ignored)).toBe(false);
  });

  it('gives requireLocalPort on a taken host port a failed event with a reason, and no remap', async () => {
    const failed = events().find((e) => e.type === 'failed' && e.containerPort === ports.required);
    expect(failed?.reason).toMatch(new RegExp(String(ports.required)));
    expect(failed?.reason).toMatch(/requireLocalPort/);
    const rows = await portsJson(stateDir);
    expect(rows.some((r) => r.containerId === containerId && r.containerPort === ports.required)).toBe(false);
    expect(await accepts(ports.required)).toBe(true); // still the other program's
  });
});
