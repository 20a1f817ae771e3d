import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProcNetTcp } from '../../src/forwarding/detect/proc-net-tcp.js';
import {
  commandLineOf,
  createSocketOwnerFinder,
  listCgroupPids,
  listNetnsPids,
} from '../../src/forwarding/detect/socket-owners.js';
import { Docker } from '../../src/runtime/docker.js';
import { localRunner } from '../../src/runtime/process-runner.js';

const SERVER_READY_TIMEOUT_MS = 10_000;
const docker = new Docker(localRunner);
const started: ChildProcess[] = [];
const extraPids: number[] = [];

// Prints {"port":N} once it listens on 127.0.0.1.
const SERVER_CODE = `const server = require('node:net').createServer();
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));`;

// Hands its listening socket to a child (another process holding the same socket), then prints
// {"port":N,"childPid":M}. The child exits when its parent does.
const CHILD_CODE = `process.on('message', (_, handle) => { globalThis.kept = handle; process.send('held'); });
process.on('disconnect', () => process.exit(0));`;
const SHARING_SERVER_CODE = `const server = require('node:net').createServer();
server.listen(0, '127.0.0.1', () => {
  const child = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(CHILD_CODE)}, 'socket-owners-child'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  child.once('message', () => console.log(JSON.stringify({ port: server.address().port, childPid: child.pid })));
  child.send('server', server);
});`;

interface StartedServer {
  pid: number;
  port: number;
  childPid?: number;
  /** The command line its /proc/PID/cmdline gives. */
  commandLine: string;
}

async function startNodeServer(code: string, marker: string): Promise<StartedServer> {
  const argv = ['-e', code, marker];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  const lines = createInterface({ input: child.stdout });
  const first = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${marker} did not listen`)), SERVER_READY_TIMEOUT_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`${marker} exited with ${code} before listening`)));
  });
  const ready = JSON.parse(await first) as { port: number; childPid?: number };
  if (ready.childPid !== undefined) extraPids.push(ready.childPid);
  if (child.pid === undefined) throw new Error(`${marker} has no pid`);
  const commandLine = commandLineOf(`${[process.execPath, ...argv].join('\0')}\0`);
  return { pid: child.pid, port: ready.port, childPid: ready.childPid, commandLine };
}

/** The inode of the socket listening on 127.0.0.1:port in this network namespace. */
async function listeningInode(port: number): Promise<number> {
  const sockets = parseProcNetTcp(await readFile('/proc/net/tcp', 'utf8'), 4);
  const socket = sockets.find((s) => s.port === port && s.address === '127.0.0.1');
  if (!socket) throw new Error(`nothing listens on 127.0.0.1:${port} according to /proc/net/tcp`);
  return socket.inode;
}

function hostFinder() {
  return createSocketOwnerFinder(docker, 'no-such-container', process.pid, 'host-proc');
}

afterEach(async () => {
  for (const pid of extraPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone with its parent
    }
  }
  await Promise.all(
    started.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }),
  );
});

describe('createSocketOwnerFinder on the host view', () => {
  it('names the command line of the process that listens', async () => {
    const server = await startNodeServer(SERVER_CODE, 'socket-owners-one');
    const inode = await listeningInode(server.port);
    const owners = await (await hostFinder()).find(new Set([inode]));
    expect(owners).toEqual(new Map([[inode, server.commandLine]]));
    expect(server.commandLine).toContain('socket-owners-one');
  });

  it('finds several sockets at once and leaves out a socket nobody holds any more', async () => {
    const [a, b, gone] = await Promise.all([
      startNodeServer(SERVER_CODE, 'socket-owners-a'),
      startNodeServer(SERVER_CODE, 'socket-owners-b'),
      startNodeServer(SERVER_CODE, 'socket-owners-gone'),
    ]);
    const [inodeA, inodeB, inodeGone] = await Promise.all([a, b, gone].map((s) => listeningInode(s.port)));
    const goneChild = started.find((child) => child.pid === gone.pid);
    const exited = new Promise((resolve) => goneChild?.once('exit', resolve));
    goneChild?.kill('SIGKILL');
    await exited;
    const owners = await (await hostFinder()).find(new Set([inodeA, inodeB, inodeGone]));
    expect(owners).toEqual(
      new Map([
        [inodeA, a.commandLine],
        [inodeB, b.commandLine],
      ]),
    );
  });

  it('credits a socket held by a parent and its child to the parent, the lower pid', async () => {
    const server = await startNodeServer(SHARING_SERVER_CODE, 'socket-owners-parent');
    const inode = await listeningInode(server.port);
    expect(server.childPid).toBeGreaterThan(server.pid);
    const childFdDir = `/proc/${server.childPid}/fd`;
    const childLinks = await Promise.all(
      (await readdir(childFdDir)).map((fd) => readlink(`${childFdDir}/${fd}`).catch(() => '')),
    );
    expect(childLinks).toContain(`socket:[${inode}]`);
    const owners = await (await hostFinder()).find(new Set([inode]));
    expect(owners.get(inode)).toBe(server.commandLine);
  });

  it('finds nothing, quickly, when asked for nothing', async () => {
    expect(await (await hostFinder()).find(new Set())).toEqual(new Map());
  });
});

describe('the host scans', () => {
  it('list the processes of the init cgroup, lowest pid first', async () => {
    const server = await startNodeServer(SERVER_CODE, 'socket-owners-cgroup');
    const pids = await listCgroupPids(process.pid);
    expect(pids).not.toBeNull();
    expect(pids).toContain(process.pid);
    expect(pids).toContain(server.pid);
    expect(pids).toEqual([...(pids ?? [])].sort((x, y) => x - y));
  });

  it('list the processes in the init network namespace, lowest pid first', async () => {
    const server = await startNodeServer(SERVER_CODE, 'socket-owners-netns');
    const pids = await listNetnsPids(process.pid);
    expect(pids).toContain(process.pid);
    expect(pids).toContain(server.pid);
    expect(pids).toEqual([...pids].sort((x, y) => x - y));
  });

  it('give nothing for a process that has exited', async () => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    const pid = child.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(await listCgroupPids(pid)).toBeNull();
    expect(await listNetnsPids(pid)).toEqual([]);
  });
});

describe('createSocketOwnerFinder through exec', () => {
  it('finds nothing, without failing, when the container does not exist', async () => {
    const server = await startNodeServer(SERVER_CODE, 'socket-owners-exec');
    const inode = await listeningInode(server.port);
    const finder = await createSocketOwnerFinder(docker, 'portpilot-no-such-container', process.pid, 'exec');
    expect(await finder.find(new Set([inode]))).toEqual(new Map());
  });
});
