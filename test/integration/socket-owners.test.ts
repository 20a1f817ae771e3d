import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createListenerSource } from '../../src/forwarding/detect/listener-source.js';
import { commandLineOf, createSocketOwnerFinder } from '../../src/forwarding/detect/socket-owners.js';
import { Docker } from '../../src/runtime/docker.js';
import { localRunner } from '../../src/runtime/process-runner.js';
import {
  DOCKER_COMMAND,
  removeContainer,
  startContainer,
  startServer,
  TEST_CONTAINER_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL_KEY,
  TEST_SERVER,
  type ServerAddress,
  type TestContainer,
} from '../support/containers.js';
import { BUSYBOX_NC_IMAGE, DEBIAN_IMAGE, HELLO_FILE_PATH, NONE_IMAGE } from '../support/images.js';

const HTTP_PORT = 8000;
const ECHO_PORT = 8001;
const HELLO_DIR = HELLO_FILE_PATH.slice(0, HELLO_FILE_PATH.lastIndexOf('/'));
const docker = new Docker(localRunner);
const containers: string[] = [];

interface Target {
  container: TestContainer;
  initPid: number;
  startedAt: string;
}

async function startTarget(image: string): Promise<Target> {
  const container = await startContainer(image);
  containers.push(container.id);
  const info = await docker.inspect(container.id);
  if (!info?.running) throw new Error(`container ${container.name} is not running`);
  return { container, initPid: info.pid, startedAt: info.startedAt };
}

/** The inode of the socket listening on address:port in the target, as the forwarder reads it. */
async function inodeOf(target: Target, address: ServerAddress, port: number): Promise<number> {
  const source = await createListenerSource(docker, {
    id: target.container.id,
    pid: target.initPid,
    startedAt: target.startedAt,
  });
  const listener = (await source.read()).find((l) => l.port === port);
  const socket = listener?.sockets.find((s) => s.address === address);
  if (!socket) throw new Error(`no socket on [${address}]:${port} in ${target.container.name}`);
  return socket.inode;
}

async function findOwners(target: Target, kind: 'host-proc' | 'exec', inodes: readonly number[]) {
  const finder = await createSocketOwnerFinder(docker, target.container.id, target.initPid, kind);
  return finder.find(new Set(inodes));
}

afterAll(async () => {
  await Promise.all(containers.map((id) => removeContainer(id)));
});

describe('socket owners in a Debian container with python3 servers', () => {
  let target: Target;
  let httpInode: number;
  let echoInode: number;

  beforeAll(async () => {
    target = await startTarget(DEBIAN_IMAGE);
    await startServer(target.container.id, { port: HTTP_PORT, address: '127.0.0.1', kind: 'http' });
    await startServer(target.container.id, { port: ECHO_PORT, address: '::1', kind: 'echo' });
    httpInode = await inodeOf(target, '127.0.0.1', HTTP_PORT);
    echoInode = await inodeOf(target, '::1', ECHO_PORT);
  });

  for (const kind of ['host-proc', 'exec'] as const) {
    it(`names the python3 server that owns each socket (${kind})`, async () => {
      const owners = await findOwners(target, kind, [httpInode, echoInode]);
      expect(owners.get(httpInode)).toBe(
        `python3 -m http.server --bind 127.0.0.1 --directory ${HELLO_DIR} ${HTTP_PORT}`,
      );
      // The echo server's program makes its command line longer than the cap.
      const echoArgv = ['python3', '-c', TEST_SERVER, 'echo', '::1', String(ECHO_PORT)];
      expect(owners.get(echoInode)).toBe(commandLineOf(`${echoArgv.join('\0')}\0`));
      expect(owners.get(echoInode)).toMatch(/^python3 -c # .*…$/s);
      expect(owners.size).toBe(2);
    });
  }

  it('gives the same command lines through exec as from the host', async () => {
    const inodes = [httpInode, echoInode];
    expect(await findOwners(target, 'exec', inodes)).toEqual(await findOwners(target, 'host-proc', inodes));
  });

  for (const kind of ['host-proc', 'exec'] as const) {
    it(`leaves out an inode no process in the container holds (${kind})`, async () => {
      const owners = await findOwners(target, kind, [httpInode, 1]);
      expect([...owners.keys()]).toEqual([httpInode]);
    });
  }
});

describe('socket owners in a busybox container (readlink takes one file: the ls -l fallback)', () => {
  let target: Target;
  let inode: number;

  beforeAll(async () => {
    target = await startTarget(BUSYBOX_NC_IMAGE);
    await startServer(target.container.id, { port: HTTP_PORT, address: '127.0.0.1', kind: 'http' });
    inode = await inodeOf(target, '127.0.0.1', HTTP_PORT);
  });

  for (const kind of ['host-proc', 'exec'] as const) {
    it(`names the busybox httpd that owns the socket (${kind})`, async () => {
      const owners = await findOwners(target, kind, [inode]);
      expect(owners).toEqual(new Map([[inode, `httpd -f -p 127.0.0.1:${HTTP_PORT} -h ${HELLO_DIR}`]]));
    });
  }
});

describe('socket owners in a container without sh', () => {
  it('finds nothing through exec, without failing', async () => {
    // /bin/sleep by path as PID 1; with PATH pointing nowhere, `docker exec … sh` finds no sh.
    const labels = ['--label', TEST_CONTAINER_LABEL, '--label', `${TEST_RUN_LABEL_KEY}=${TEST_RUN_ID}`];
    const run = await execa(DOCKER_COMMAND, [
      'run',
      '--detach',
      ...labels,
      '--env',
      'PATH=/nonexistent',
      NONE_IMAGE,
      '/bin/sleep',
      '100000',
    ]);
    const id = run.stdout.trim();
    containers.push(id);
    const info = await docker.inspect(id);
    expect(info?.running).toBe(true);
    const noSh = await docker.exec(id, ['sh', '-c', 'true']);
    expect(noSh.exitCode).not.toBe(0);
    const finder = await createSocketOwnerFinder(docker, id, info?.pid ?? 0, 'exec');
    expect(await finder.find(new Set([1, 2, 3]))).toEqual(new Map());
  });
});
