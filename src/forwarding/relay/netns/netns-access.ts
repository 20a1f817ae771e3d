import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { findContainerProcess, type EngineProcess } from '../../detect/container-process.js';

/** The helper program, beside this module in dist/. */
export const HELPER_SCRIPT = fileURLToPath(new URL('./netns-helper.js', import.meta.url));

/** What decides whether this process may enter a container's network namespace. */
export interface NamespaceAccessInput {
  /** This process's effective uid. */
  euid: number;
  /** Whether the container's init was proven in this machine's /proc (listener source `host-proc`). */
  proven: boolean;
  /** The targets of /proc/self/ns/user and /proc/<init>/ns/user (`user:[4026531837]`). */
  ownUserNs: string;
  containerUserNs: string;
  /** The text of /proc/<init>/uid_map. */
  containerUidMap: string;
}

/** How nsenter enters the namespace, or why it may not. */
export type NamespaceAccess = { allowed: true; nsenterFlags: string[] } | { allowed: false; reason: string };

/**
 * Pure: whether the forwarder may start a helper in the container's network namespace, and with
 * which nsenter flags. setns() into a network namespace takes CAP_SYS_ADMIN in the user namespace
 * that owns it: root has it over every namespace (a rootful engine's containers); a user running a
 * rootless engine (Podman, Docker) has it in the user namespace the engine made, in which the
 * container's root is that user (uid_map `0 <uid> 1`), and enters that one first (`--user`),
 * keeping its own credentials (`--preserve-credentials`: no switch to the namespace's root).
 * Only a container whose init is proven to be the process with the engine's pid is entered.
 */
export function namespaceAccess(input: NamespaceAccessInput): NamespaceAccess {
  if (!input.proven) {
    return { allowed: false, reason: "the container's init process is not proven to be on this machine" };
  }
  if (input.euid === 0) return { allowed: true, nsenterFlags: [] };
  if (input.ownUserNs !== input.containerUserNs && ownsUidMap(input.containerUidMap, input.euid)) {
    return { allowed: true, nsenterFlags: ['--user', '--preserve-credentials'] };
  }
  return {
    allowed: false,
    reason: `uid ${input.euid} is neither root nor the owner of the container's user namespace`,
  };
}

/** Pure: whether a uid_map maps the namespace's root onto `uid` (a rootless engine's, run by `uid`). */
export function ownsUidMap(uidMap: string, uid: number): boolean {
  return uidMap
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .some(([inside, outside, count]) => inside === 0 && outside === uid && (count ?? 0) >= 1);
}

/** Pure: the argv that starts the helper in the namespace of process `pid`. */
export function helperArgv(
  pid: number,
  nsenterFlags: readonly string[],
  node: string,
  script: string,
): string[] {
  return ['nsenter', '--target', String(pid), ...nsenterFlags, '--net', '--', node, script];
}

/** Looks at /proc for whether this process may enter the container's network namespace. */
export async function findNamespaceAccess(pid: number, proven: boolean): Promise<NamespaceAccess> {
  let ownUserNs: string;
  let containerUserNs: string;
  let containerUidMap: string;
  try {
    [ownUserNs, containerUserNs, containerUidMap] = await Promise.all([
      readlink('/proc/self/ns/user'),
      readlink(`/proc/${pid}/ns/user`),
      readFile(`/proc/${pid}/uid_map`, 'utf8'),
    ]);
  } catch {
    return { allowed: false, reason: `the namespaces of process ${pid} cannot be read` };
  }
  const euid = process.geteuid?.() ?? -1;
  return namespaceAccess({ euid, proven, ownUserNs, containerUserNs, containerUidMap });
}

/**
 * Starts the helper in the container's network namespace, holding an IPC channel to it (nsenter
 * execs node in place, so the channel's descriptor and NODE_CHANNEL_FD pass through). The container's
 * init is proven again first: the helper may start hours after the forwarder, and a pid can be reused
 * once its container has gone. Null when it is no longer the container's.
 */
export async function spawnHelperIn(
  container: EngineProcess,
  nsenterFlags: readonly string[],
): Promise<ChildProcess | null> {
  const proof = await findContainerProcess(container);
  if (!proof.proven) return null;
  const [command, ...args] = helperArgv(container.pid, nsenterFlags, process.execPath, HELPER_SCRIPT);
  return spawn(command as string, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
}
