import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StateError } from '../../src/common/errors.js';
import { readProcessStartTime } from '../../src/common/process-info.js';
import { ensureStateDir, statePaths, type StatePaths } from '../../src/common/state-dir.js';
import type { PortEntry } from '../../src/forwarding/port-entry.js';
import {
  allocatePort,
  listPorts,
  releasePorts,
  updateEntries,
  type TryBind,
} from '../../src/forwarding/host/registry.js';

const servers: Server[] = [];
let root: string;
let paths: StatePaths;
let warnings: string[];
const onWarning = (message: string): void => void warnings.push(message);

async function listen(port: number): Promise<Server | null> {
  const server = createServer();
  return new Promise((done, fail) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? done(null) : fail(error),
    );
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      servers.push(server);
      done(server);
    });
  });
}

const tryBind: TryBind = async (port) => (await listen(port)) !== null;

async function close(server: Server | null | undefined): Promise<void> {
  if (server?.listening) await new Promise((done) => server.close(done));
}

/** A port p with p .. p+span-1 all free right now. */
async function freePorts(span: number, low = 20_000, high = 60_000): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const held = await Promise.all(Array.from({ length: span }, (_, i) => listen(base + i)));
    await Promise.all(held.map(close));
    if (held.every((server) => server !== null)) return base;
  }
  throw new Error(`no run of ${span} free ports`);
}

async function entryFor(containerPort: number, overrides: Partial<PortEntry> = {}): Promise<PortEntry> {
  const startTime = await readProcessStartTime(process.pid);
  return {
    containerId: 'c'.repeat(64),
    containerName: 'app',
    service: null,
    containerPort,
    hostAddress: '127.0.0.1',
    hostPort: containerPort,
    protocol: 'tcp',
    origin: 'detected',
    allocation: 'same',
    label: null,
    process: null,
    forwarderPid: process.pid,
    forwarderStartTime: startTime ?? 0,
    since: new Date().toISOString(),
    path: 'direct',
    ...overrides,
  };
}

async function allocate(containerPort: number, overrides: Partial<PortEntry> = {}, requireLocalPort = false) {
  const { hostPort: _h, allocation: _a, ...entry } = await entryFor(containerPort, overrides);
  return allocatePort(paths, { entry, requireLocalPort }, tryBind, { onWarning });
}

async function writeRegistry(content: unknown): Promise<void> {
  await ensureStateDir(root);
  await writeFile(paths.registry, typeof content === 'string' ? content : JSON.stringify(content));
}

beforeEach(async () => {
  root = join(await mkdtemp(join(tmpdir(), 'portpilot-registry-')), 'state');
  paths = statePaths(root);
  warnings = [];
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map(close));
  await rm(resolve(root, '..'), { recursive: true, force: true });
});

describe('allocatePort', () => {
  it('gives container port P host port P when it is free', async () => {
    const port = await freePorts(1);
    const result = await allocate(port);
    expect(result).toMatchObject({ ok: true, entry: { hostPort: port, allocation: 'same' } });
    expect(await listPorts(paths, { onWarning })).toEqual([result.ok && result.entry]);
  });

  it('keeps TCP and UDP host ports apart: a TCP entry on P does not move UDP port P', async () => {
    const port = await freePorts(2);
    expect(await allocate(port)).toMatchObject({ ok: true, entry: { hostPort: port, protocol: 'tcp' } });
    const { hostPort: _h, allocation: _a, ...udp } = await entryFor(port, { protocol: 'udp' });
    const bindUdp = async () => true;
    const udpResult = await allocatePort(paths, { entry: udp, requireLocalPort: true }, bindUdp, {
      onWarning,
    });
    expect(udpResult).toMatchObject({
      ok: true,
      entry: { hostPort: port, allocation: 'same', protocol: 'udp' },
    });
    // A second UDP forward of P from elsewhere is moved on, as TCP ones are.
    const again = await allocatePort(paths, { entry: udp, requireLocalPort: false }, bindUdp, { onWarning });
    expect(again).toMatchObject({ ok: true, entry: { hostPort: port + 1, allocation: 'remapped-in-use' } });
    expect((await listPorts(paths, { onWarning })).map((e) => `${e.protocol}:${e.hostPort}`).sort()).toEqual(
      [`tcp:${port}`, `udp:${port}`, `udp:${port + 1}`].sort(),
    );
  });

  it('moves past a port held by a foreign listener to the next free one', async () => {
    const port = await freePorts(2);
    await listen(port);
    expect(await allocate(port)).toMatchObject({
      ok: true,
      entry: { hostPort: port + 1, allocation: 'remapped-in-use' },
    });
  });

  it('maps a privileged port to 8000 + P', async () => {
    const hostPort = await freePorts(1, 8001, 9023);
    const containerPort = hostPort - 8000;
    expect(await allocate(containerPort)).toMatchObject({
      ok: true,
      entry: { containerPort, hostPort, allocation: 'remapped-privileged' },
    });
  });

  it('never gives two forwards the same host port, whichever container holds it', async () => {
    const port = await freePorts(2);
    const first = await allocate(port, { containerId: 'a'.repeat(64) });
    await Promise.all(servers.splice(0).map(close)); // the port is bindable again, but still registered
    const second = await allocate(port, { containerId: 'b'.repeat(64) });
    expect(first).toMatchObject({ ok: true, entry: { hostPort: port } });
    expect(second).toMatchObject({ ok: true, entry: { hostPort: port + 1, allocation: 'remapped-in-use' } });
  });

  it('fails with a reason instead of remapping when requireLocalPort is set', async () => {
    const port = await freePorts(2);
    await listen(port);
    const result = await allocate(port, {}, true);
    expect(result).toEqual({
      ok: false,
      reason: `host port ${port} is in use and portsAttributes.requireLocalPort is set`,
    });
    expect(await listPorts(paths, { onWarning })).toEqual([]);
  });

  it('names the container that already forwards a required port', async () => {
    const port = await freePorts(1);
    await allocate(port, { containerName: 'web' });
    const result = await allocate(port, { containerName: 'api' }, true);
    expect(result).toMatchObject({
      ok: false,
      reason: expect.stringContaining('already forwarded from container web'),
    });
  });
});

describe('pruning dead forwarders', () => {
  let child: ChildProcess | undefined;
  afterEach(() => void child?.kill('SIGKILL'));

  it('drops the entries of a killed forwarder and hands its port out again', async () => {
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid ?? 0;
    const startTime = await readProcessStartTime(pid);
    const port = await freePorts(1);
    const result = await allocate(port, { forwarderPid: pid, forwarderStartTime: startTime ?? -1 });
    expect(result).toMatchObject({ ok: true, entry: { hostPort: port, forwarderPid: pid } });
    await Promise.all(servers.splice(0).map(close));
    expect(await listPorts(paths, { onWarning })).toHaveLength(1);

    const exited = new Promise((done) => child?.once('exit', done));
    child.kill('SIGKILL');
    await exited;
    expect(await listPorts(paths, { onWarning })).toEqual([]);
    expect(JSON.parse(await readFile(paths.registry, 'utf8'))).toEqual({ version: 1, entries: [] });
    expect(await allocate(port)).toMatchObject({ ok: true, entry: { hostPort: port, allocation: 'same' } });
  });

  it('treats a live pid with another start time as a recycled pid, so dead', async () => {
    const live = await entryFor(41_000);
    const recycled = await entryFor(41_001, { forwarderStartTime: live.forwarderStartTime + 1 });
    await writeRegistry({ version: 1, entries: [live, recycled] });
    expect(await listPorts(paths, { onWarning })).toEqual([live]);
    expect(warnings).toEqual([]);
  });

  it('returns released entries, dead ones included, and keeps the rest', async () => {
    const mine = await entryFor(41_000);
    const dead = await entryFor(41_001, { forwarderStartTime: mine.forwarderStartTime + 1 });
    const other = await entryFor(41_002, { containerId: 'd'.repeat(64) });
    await writeRegistry({ version: 1, entries: [mine, dead, other] });
    const removed = await releasePorts(paths, (e) => e.containerId === mine.containerId, { onWarning });
    expect(removed).toEqual([mine, dead]);
    expect(await listPorts(paths, { onWarning })).toEqual([other]);
  });

  it('updateEntries writes what the update returns', async () => {
    const entry = await entryFor(41_000);
    await writeRegistry({ version: 1, entries: [entry] });
    const written = await updateEntries(
      paths,
      (entries) => entries.map((e) => ({ ...e, process: 'node app.js' })),
      { onWarning },
    );
    expect(written).toEqual([{ ...entry, process: 'node app.js' }]);
    expect(await listPorts(paths, { onWarning })).toEqual(written);
  });
});

describe('damaged or unsafe state', () => {
  const corrupt = {
    garbage: 'not json {{{',
    truncated: '{"version":1,"entries":[{"containerId":"abc","contai',
    'wrong types': '{"version":1,"entries":"nope"}',
    'another version': '{"version":2,"entries":[]}',
    'an array': '[]',
    empty: '',
  };
  for (const [name, content] of Object.entries(corrupt)) {
    it(`sets aside a ${name} registry with a warning and starts empty`, async () => {
      await writeRegistry(content);
      expect(await listPorts(paths, { onWarning })).toEqual([]);
      expect(warnings).toEqual([expect.stringContaining('moved it to')]);
      const aside = (await readdir(root)).filter((file) => file.startsWith('registry.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(await readFile(join(root, aside[0] ?? ''), 'utf8')).toBe(content);
      const port = await freePorts(1);
      expect(await allocate(port)).toMatchObject({ ok: true, entry: { hostPort: port } });
      expect(JSON.parse(await readFile(paths.registry, 'utf8')).entries).toHaveLength(1);
    });
  }

  it('drops malformed entries one by one and keeps the good ones', async () => {
    const good = await entryFor(41_000);
    await writeRegistry({
      version: 1,
      entries: [good, { ...good, hostPort: 'x' }, 42, null, { ...good, path: 'ssh' }],
    });
    expect(await listPorts(paths, { onWarning })).toEqual([good]);
    expect(warnings).toEqual([expect.stringContaining('dropped 4 malformed entries')]);
    expect(JSON.parse(await readFile(paths.registry, 'utf8'))).toEqual({ version: 1, entries: [good] });
  });

  it('writes the registry 0600 in a 0700 dir, tightening a looser dir', async () => {
    await mkdir(root, { recursive: true, mode: 0o755 });
    await chmod(root, 0o755);
    await allocate(await freePorts(1));
    expect((await stat(paths.registry)).mode & 0o777).toBe(0o600);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
  });

  it('holds its lock as a 0700 directory, whatever the umask leaves', async () => {
    let lockMode = 0;
    await updateEntries(
      paths,
      (entries) => {
        lockMode = statSync(`${paths.registry}.lock`).mode & 0o777;
        return entries;
      },
      { onWarning },
    );
    expect(lockMode.toString(8)).toBe('700');
  });

  it('refuses a registry that is a symlink', async () => {
    await ensureStateDir(root);
    const target = join(root, '..', 'elsewhere.json');
    await writeFile(target, '{"version":1,"entries":[]}');
    await symlink(target, paths.registry);
    await expect(listPorts(paths, { onWarning })).rejects.toThrow(StateError);
    await expect(allocate(await freePorts(1))).rejects.toThrow(`the registry ${paths.registry} is a symlink`);
    expect(await readFile(target, 'utf8')).toBe('{"version":1,"entries":[]}');
  });

  it('refuses a state dir that is a symlink', async () => {
    const real = join(root, '..', 'real');
    await mkdir(real);
    await symlink(real, root);
    await expect(listPorts(paths, { onWarning })).rejects.toThrow(`the state dir ${root} is a symlink`);
  });

  it('refuses a state dir owned by another user', async () => {
    // As root, hand a dir to nobody; otherwise '/' is a dir owned by someone else.
    const foreign = process.getuid?.() === 0 ? root : '/';
    if (foreign === root) {
      await mkdir(root, { mode: 0o700 });
      await chown(root, 65534, 65534);
    }
    await expect(ensureStateDir(foreign)).rejects.toThrow(/is owned by uid \d+, not by you/);
    expect((await lstat(foreign)).isDirectory()).toBe(true);
  });

  it('takes over a lock left behind by a dead process', async () => {
    await ensureStateDir(root);
    await mkdir(`${paths.registry}.lock`);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${paths.registry}.lock`, old, old);
    const started = Date.now();
    expect(await listPorts(paths, { onWarning })).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('waits on a fresh lock and takes it once it goes stale', async () => {
    await ensureStateDir(root);
    await mkdir(`${paths.registry}.lock`);
    let settled = false;
    const listing = listPorts(paths, { onWarning }).finally(() => (settled = true));
    await new Promise((done) => setTimeout(done, 500));
    expect(settled).toBe(false);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${paths.registry}.lock`, old, old);
    expect(await listing).toEqual([]);
  });
});

describe('contention between processes', () => {
  const PROCESSES = 8;
  const ROUNDS = 50;
  let buildDir: string;

  beforeAll(async () => {
    // Children are real node processes, so they need JavaScript: compile the registry and its imports.
    buildDir = resolve('node_modules/.cache/portpilot-os-tests', `registry-${process.pid}`);
    const tsc = resolve('node_modules/typescript/bin/tsc');
    const flags = ['--outDir', buildDir, '--rootDir', 'src', '--module', 'nodenext', '--target', 'es2022'];
    await promisify(execFile)(process.execPath, [
      tsc,
      'src/forwarding/host/registry.ts',
      ...flags,
      '--noCheck',
      '--skipLibCheck',
    ]);
    await writeFile(join(buildDir, 'child.mjs'), CHILD_SCRIPT);
  }, 60_000);

  afterAll(async () => {
    await rm(buildDir, { recursive: true, force: true });
  });

  it('never registers a host port twice, keeps the file valid and loses no entry', async () => {
    const base = await freePorts(PROCESSES + 4);
    await ensureStateDir(root);
    const children = Array.from({ length: PROCESSES }, (_, id) =>
      promisify(execFile)(
        process.execPath,
        [join(buildDir, 'child.mjs'), root, String(base), String(ROUNDS), String(id)],
        {
          maxBuffer: 16 * 1024 * 1024,
        },
      ),
    );
    let watching = true;
    const snapshots = { count: 0, maxEntries: 0 };
    const watcher = (async () => {
      while (watching) {
        const text = await readFile(paths.registry, 'utf8').catch(() => null);
        if (text !== null) {
          const data = JSON.parse(text) as { version: number; entries: PortEntry[] };
          expect(data.version).toBe(1);
          const ports = data.entries.map((e) => e.hostPort);
          expect(new Set(ports).size).toBe(ports.length);
          snapshots.count++;
          snapshots.maxEntries = Math.max(snapshots.maxEntries, ports.length);
        }
        await new Promise((done) => setTimeout(done, 2));
      }
    })();
    const reports = (await Promise.all(children)).map(
      ({ stdout }) =>
        JSON.parse(stdout) as { holds: [number, number, number][]; lost: number; failed: string[] },
    );
    watching = false;
    await watcher;

    expect(reports.flatMap((r) => r.failed)).toEqual([]);
    expect(reports.reduce((sum, r) => sum + r.lost, 0)).toBe(0);
    const holds = reports.flatMap((r, id) => r.holds.map(([port, from, to]) => ({ id, port, from, to })));
    expect(holds).toHaveLength(PROCESSES * ROUNDS);
    for (const a of holds) {
      const overlapping = holds.filter(
        (b) => b.id !== a.id && b.port === a.port && a.from < b.to && b.from < a.to,
      );
      expect(overlapping).toEqual([]);
    }
    expect(snapshots.count).toBeGreaterThan(0);
    expect(snapshots.maxEntries).toBeLessThanOrEqual(PROCESSES);
    expect(await listPorts(paths, { onWarning })).toEqual([]);
  }, 120_000);
});

// Allocates, holds briefly, then closes its listener and releases, ROUNDS times; reports each hold's
// [hostPort, from, to] in wall-clock ms, measured inside the time the registry holds the entry.
const CHILD_SCRIPT = `
import { createServer } from 'node:net';
const [root, base, rounds, id] = process.argv.slice(2);
const { allocatePort, listPorts, releasePorts } = await import(new URL('./forwarding/host/registry.js', import.meta.url));
const { readProcessStartTime } = await import(new URL('./common/process-info.js', import.meta.url));
const { statePaths } = await import(new URL('./common/state-dir.js', import.meta.url));
const paths = statePaths(root);
const startTime = await readProcessStartTime(process.pid);
const report = { holds: [], lost: 0, failed: [] };
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
for (let round = 0; round < Number(rounds); round++) {
  let server = null;
  const tryBind = (port) => new Promise((done, fail) => {
    const candidate = createServer();
    candidate.once('error', (error) => (error.code === 'EADDRINUSE' ? done(false) : fail(error)));
    candidate.listen({ port, host: '127.0.0.1', exclusive: true }, () => { server = candidate; done(true); });
  });
  const entry = {
    containerId: 'container-' + id, containerName: 'c' + id, service: null, containerPort: Number(base),
    hostAddress: '127.0.0.1', protocol: 'tcp', origin: 'detected', label: null, process: null,
    forwarderPid: process.pid, forwarderStartTime: startTime, since: new Date().toISOString(), path: 'direct',
  };
  const options = { onWarning: (message) => report.failed.push('warning: ' + message) };
  const result = await allocatePort(paths, { entry, requireLocalPort: false }, tryBind, options);
  if (!result.ok) { report.failed.push(result.reason); continue; }
  const from = Date.now();
  if (round % 5 === 0) {
    const listed = await listPorts(paths, options);
    if (!listed.some((e) => e.forwarderPid === process.pid && e.hostPort === result.entry.hostPort)) report.lost++;
  }
  await sleep(Math.random() * 3);
  await new Promise((done) => server.close(done));
  const to = Date.now();
  const removed = await releasePorts(paths, (e) => e.forwarderPid === process.pid && e.hostPort === result.entry.hostPort, options);
  if (removed.length !== 1) report.lost++;
  report.holds.push([result.entry.hostPort, from, to]);
}
process.stdout.write(JSON.stringify(report));
`;
