import { readFileSync } from 'node:fs';
import { RuntimeError } from '../../common/errors.js';
import { isNoSuchProcess, readProcessStartTime } from '../../common/process-info.js';
import { findContainerProcsFile } from './container-cgroup.js';
import { findContainerProcess, type EngineProcess } from './container-process.js';
import type { Docker } from '../../runtime/docker.js';
import {
  groupListenersByPort,
  parseProcNetTcp,
  type PortListener,
  type SocketListener,
} from './proc-net-tcp.js';
import { shortId } from '../../common/short-id.js';
import { DEFAULT_EPHEMERAL_RANGE, parsePortRange, parseProcNetUdp, type PortRange } from './proc-net-udp.js';

/** Where a container's listening sockets are read from. */
export type ListenerSourceKind = 'host-proc' | 'exec';

/** What the cheap change check saw (see ListenerSource.mayHaveChanged). */
export type ChangeHint = 'none' | 'sockets' | 'processes';

/**
 * Reads the TCP listeners and UDP servers of one container. `read` rejects with ContainerGoneSignal when the container
 * may be gone (the engine decides: see waitForRestart), and with another error when the read failed
 * for a reason that says nothing about the container (out of file descriptors, the engine
 * unreachable, a read past its bounds): that one is retried.
 */
export interface ListenerSource {
  readonly kind: ListenerSourceKind;
  read(): Promise<PortListener[]>;
  /**
   * A cheap check, made often: whether the listeners may have changed since the last call, and the
   * sign of it: the container's processes changed (a server may be starting), or only its socket
   * counts (a listen(), or just connections); 'processes' too when it cannot tell. Reading the
   * tables costs milliseconds; this costs microseconds.
   */
  mayHaveChanged(): Promise<ChangeHint>;
}

/**
 * The container's init process has exited, or the engine says the container is not running: it
 * stopped, or restarted under a new pid.
 */
export class ContainerGoneSignal extends Error {
  override name = 'ContainerGoneSignal';
}

/**
 * On a local engine the container's network namespace is visible from the host as
 * /proc/<init pid>/net/tcp{,6}, readable without root and without spawning anything; that is used
 * whenever the process with the engine's pid provably is the container's init (see
 * findContainerProcess): on a remote engine, or one in another pid namespace, that pid is some
 * unrelated local process, whose tables are this machine's own. Otherwise (a remote engine, a
 * VM-backed runtime, a container of another user's rootless engine) the tables are read through exec.
 */
export async function createListenerSource(
  docker: Docker,
  container: EngineProcess,
): Promise<ListenerSource> {
  const proof = await findContainerProcess(container);
  if (proof.proven) {
    const ephemeral = await readEphemeralRange(docker, container.id);
    const source = hostProcSource(container.pid, proof.startTicks, container.id, ephemeral);
    try {
      await source.read();
      return source;
    } catch {
      // Not readable from here: fall through to exec.
    }
  }
  return execSource(docker, container.id);
}

/**
 * After the container's process set changes, this many further checks say "changed" too: a server
 * usually listens within a moment of starting, and its listen() may be masked in the counters by
 * another socket's close (one server replacing another).
 */
export const CHECKS_AFTER_PROCESS_CHANGE = 3;

/** The file that holds a network namespace's ephemeral port range (UDP clients' ports). */
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/**
 * The container's ephemeral port range, read once through exec: /proc/sys/net shows the reader's own
 * namespace, so the host cannot read the container's from /proc/<pid>/root. The default when it fails.
 */
async function readEphemeralRange(docker: Docker, containerId: string): Promise<PortRange> {
  try {
    const result = await docker.exec(containerId, ['cat', EPHEMERAL_RANGE_FILE], {
      timeoutMs: EXEC_READ_TIMEOUT_MS,
      maxOutputBytes: 1024,
    });
    return parsePortRange(result.stdout);
  } catch {
    return DEFAULT_EPHEMERAL_RANGE;
  }
}

function hostProcSource(
  pid: number,
  startTime: number,
  containerId: string,
  ephemeral: PortRange,
): ListenerSource {
  const procsFile = findContainerProcsFile(pid, containerId);
  let lastCounts = '';
  let lastProcs = '';
  let followUps = 0;
  return {
    kind: 'host-proc',
    // The kernel walks every socket of every namespace to print /proc/net/tcp, so a read costs ~3 ms
    // however few sockets the container has. Two signals cost microseconds instead: sockstat{,6}
    // print per-namespace counters of TCP sockets in use, which a listen() or close() moves, and the
    // container's cgroup lists its processes, which change when a server starts or stops.
    // Read synchronously: these files are a few bytes and take microseconds, while an async read
    // costs several thread-pool round trips, which dominated the idle forwarder's CPU time.
    mayHaveChanged() {
      const inUse = readTcpInUse(pid);
      const counts = `${inUse.v4}/${inUse.v6}/${inUse.udp4}/${inUse.udp6}`;
      const procs = procsFile === null ? '' : readSmall(procsFile);
      if (procs !== lastProcs) followUps = CHECKS_AFTER_PROCESS_CHANGE + 1;
      const hint: ChangeHint =
        followUps > 0 || !inUse.readable ? 'processes' : counts !== lastCounts ? 'sockets' : 'none';
      if (followUps > 0) followUps -= 1;
      lastCounts = counts;
      lastProcs = procs;
      return Promise.resolve(hint);
    },
    async read() {
      // Synchronous for the same reason as the change check: the cost is the kernel's, and the
      // thread-pool hops of an async read only add to it. A table costs ~5 ms whatever it holds, so
      // one whose protocol has no socket in use in the namespace (no listener either) is not read:
      // a container of IPv4 servers, or of dual-stack ones, pays for one table, not two.
      const inUse = readTcpInUse(pid);
      const v4 = inUse.v4 === '0' ? '' : readSmall(`/proc/${pid}/net/tcp`);
      const v6 = inUse.v6 === '0' ? '' : readSmall(`/proc/${pid}/net/tcp6`);
      const udp4 = inUse.udp4 === '0' ? '' : readSmall(`/proc/${pid}/net/udp`);
      const udp6 = inUse.udp6 === '0' ? '' : readSmall(`/proc/${pid}/net/udp6`);
      // Checked after the read, so a table read from a pid the kernel already reused is never trusted.
      if (!inUse.readable || (await readProcessStartTime(pid)) !== startTime) {
        throw new ContainerGoneSignal(`container init process ${pid} is gone`);
      }
      return [
        ...groupListenersByPort(
          withoutRuntimeSockets([...parseProcNetTcp(v4, 4), ...parseProcNetTcp(v6, 6)]),
        ),
        ...udpServers(`${udp4}\n${udp6}`, ephemeral),
      ];
    },
  };
}

/**
 * Bounds of a read through exec: the container's `cat` may be anything. A table line is 150 bytes
 * (178 for IPv6), so the cap is some 50,000 sockets; a `docker exec` costs ~85 ms here, over SSH a
 * few hundred. Past either bound the read fails and is retried, the container is not taken as gone.
 */
export const EXEC_READ_TIMEOUT_MS = 10_000;
export const EXEC_READ_MAX_BYTES = 8 * 1024 * 1024;
/** How long the engine may take to say whether the container runs, after a failed read. */
export const ENGINE_CHECK_TIMEOUT_MS = 10_000;

function execSource(docker: Docker, containerId: string): ListenerSource {
  const short = shortId(containerId);
  return {
    kind: 'exec',
    // Nothing cheap to watch from outside: every check would be an exec, so only the regular scan runs.
    mayHaveChanged: () => Promise.resolve('none'),
    async read() {
      const files = [
        '/proc/net/tcp',
        '/proc/net/tcp6',
        '/proc/net/udp',
        '/proc/net/udp6',
        EPHEMERAL_RANGE_FILE,
      ];
      const result = await docker.exec(containerId, ['cat', ...files], {
        timeoutMs: EXEC_READ_TIMEOUT_MS,
        maxOutputBytes: EXEC_READ_MAX_BYTES,
      });
      if (result.limit !== undefined) {
        const bound =
          result.limit === 'time'
            ? `no answer in ${EXEC_READ_TIMEOUT_MS} ms`
            : `more than ${EXEC_READ_MAX_BYTES} bytes of output`;
        throw new RuntimeError(`reading the listeners of container ${short} failed: ${bound}`, {
          description: `'cat ${files.join(' ')}' in the container was stopped; the read is retried.`,
        });
      }
      if (result.exitCode !== 0 && result.stdout.trim() === '') {
        // A failed exec alone may be the transport (an SSH link down, an API version refused): only
        // the engine says whether the container is gone. Rejects when it cannot be asked either.
        const container = await docker.inspect(containerId, { timeoutMs: ENGINE_CHECK_TIMEOUT_MS });
        if (!container?.running) {
          throw new ContainerGoneSignal(`container ${short} is not running: ${result.stderr.trim()}`);
        }
        throw new RuntimeError(`reading the listeners of container ${short} failed`, {
          description: result.stderr.trim() || `exit code ${result.exitCode}`,
        });
      }
      return [
        ...groupListenersByPort(withoutRuntimeSockets(splitTables(result.stdout))),
        ...udpServers(result.stdout, parsePortRange(result.stdout)),
      ];
    },
  };
}

/**
 * The UDP servers in text holding /proc/net/udp{,6} (with other tables or not: see parseProcNetUdp),
 * without the runtime's own: Docker's embedded DNS server listens on UDP too.
 */
export function udpServers(text: string, ephemeral: PortRange): PortListener[] {
  return parseProcNetUdp(text, ephemeral).flatMap((listener) => {
    const sockets = withoutRuntimeSockets(listener.sockets);
    return sockets.length === 0 ? [] : [{ ...listener, sockets }];
  });
}

/**
 * `cat tcp tcp6 …` prints the tables each with its header line; the second is IPv6. Lines after it
 * from other tables (udp, udp6) are never TCP listeners: their state is not LISTEN.
 */
export function splitTables(text: string): SocketListener[] {
  const lines = text.split('\n');
  const headers = lines.flatMap((line, index) => (/^\s*sl\s+local_address/.test(line) ? [index] : []));
  const secondHeader = headers[1] ?? lines.length;
  const v4 = lines.slice(0, secondHeader).join('\n');
  const v6 = lines.slice(secondHeader).join('\n');
  return [...parseProcNetTcp(v4, 4), ...parseProcNetTcp(v6, 6)];
}

/** The `inuse` count on a sockstat line (`TCP: inuse 3 orphan 0 …`), or '' when absent. */
export function tcpInUse(sockstat: string, protocol: 'TCP' | 'TCP6' | 'UDP' | 'UDP6'): string {
  return new RegExp(`^${protocol}: inuse (\\d+)`, 'm').exec(sockstat)?.[1] ?? '';
}

/**
 * The TCP sockets in use in `pid`'s network namespace, per family, as sockstat{,6} print them ('' when
 * absent); `readable` is false when the process is gone. Throws when it cannot tell (see readSmall).
 */
function readTcpInUse(pid: number): {
  v4: string;
  v6: string;
  udp4: string;
  udp6: string;
  readable: boolean;
} {
  const v4 = readSmall(`/proc/${pid}/net/sockstat`);
  const v6 = readSmall(`/proc/${pid}/net/sockstat6`);
  return {
    v4: tcpInUse(v4, 'TCP'),
    v6: tcpInUse(v6, 'TCP6'),
    udp4: tcpInUse(v4, 'UDP'),
    udp6: tcpInUse(v6, 'UDP6'),
    readable: v4 !== '',
  };
}

/**
 * A /proc file's text, '' when its process is gone. Any other failure (EMFILE, ENFILE) is thrown: it
 * is this process's trouble, and says nothing about the container.
 */
function readSmall(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (isNoSuchProcess(error)) return '';
    throw error;
  }
}

/**
 * Docker's embedded DNS server for user-defined networks (Compose's among them) listens inside the
 * container's namespace at 127.0.0.11 on a random port; it belongs to the engine, not to the user.
 */
export const DOCKER_DNS_ADDRESS = '127.0.0.11';

/** Drops the sockets the container runtime itself holds in the container's namespace. */
export function withoutRuntimeSockets(sockets: readonly SocketListener[]): SocketListener[] {
  return sockets.filter((socket) => socket.address !== DOCKER_DNS_ADDRESS);
}
