import { readFile } from 'node:fs/promises';
import { readProcessStartTime } from '../common/process-info.js';
import type { Docker } from '../runtime/docker.js';
import {
  groupListenersByPort,
  parseProcNetTcp,
  type PortListener,
  type SocketListener,
} from './proc-net-tcp.js';

/** Where a container's listening sockets are read from. */
export type ListenerSourceKind = 'host-proc' | 'exec';

/** Reads the TCP listeners of one container. `read` rejects when the container is gone. */
export interface ListenerSource {
  readonly kind: ListenerSourceKind;
  read(): Promise<PortListener[]>;
}

/** The container's init process has exited: the container stopped (or restarted under a new pid). */
export class ContainerGoneSignal extends Error {
  override name = 'ContainerGoneSignal';
}

/**
 * On a local engine the container's network namespace is visible from the host as
 * /proc/<init pid>/net/tcp{,6}, readable without root and without spawning anything; that is used
 * whenever it works. Otherwise (a remote engine, a VM-backed runtime) the tables are read through exec.
 */
export async function createListenerSource(
  docker: Docker,
  containerId: string,
  initPid: number,
): Promise<ListenerSource> {
  const startTime = initPid > 0 ? await readProcessStartTime(initPid) : null;
  if (startTime !== null) {
    const source = hostProcSource(initPid, startTime);
    try {
      await source.read();
      return source;
    } catch {
      // Not readable from here: fall through to exec.
    }
  }
  return execSource(docker, containerId);
}

function hostProcSource(pid: number, startTime: number): ListenerSource {
  return {
    kind: 'host-proc',
    async read() {
      const [v4, v6] = await Promise.all([
        readFile(`/proc/${pid}/net/tcp`, 'utf8').catch(() => null),
        readFile(`/proc/${pid}/net/tcp6`, 'utf8').catch(() => ''),
      ]);
      // Checked after the read, so a table read from a pid the kernel already reused is never trusted.
      if (v4 === null || (await readProcessStartTime(pid)) !== startTime) {
        throw new ContainerGoneSignal(`container init process ${pid} is gone`);
      }
      return groupListenersByPort([...parseProcNetTcp(v4, 4), ...parseProcNetTcp(v6, 6)]);
    },
  };
}

function execSource(docker: Docker, containerId: string): ListenerSource {
  return {
    kind: 'exec',
    async read() {
      const result = await docker.exec(containerId, ['cat', '/proc/net/tcp', '/proc/net/tcp6']);
      if (result.exitCode !== 0 && result.stdout.trim() === '') {
        throw new ContainerGoneSignal(`cannot read listeners: ${result.stderr.trim()}`);
      }
      return groupListenersByPort(splitTables(result.stdout));
    },
  };
}

/** `cat tcp tcp6` prints two tables, each with its header line; the second is IPv6. */
export function splitTables(text: string): SocketListener[] {
  const lines = text.split('\n');
  const headers = lines.flatMap((line, index) => (/^\s*sl\s+local_address/.test(line) ? [index] : []));
  const secondHeader = headers[1] ?? lines.length;
  const v4 = lines.slice(0, secondHeader).join('\n');
  const v6 = lines.slice(secondHeader).join('\n');
  return [...parseProcNetTcp(v4, 4), ...parseProcNetTcp(v6, 6)];
}
