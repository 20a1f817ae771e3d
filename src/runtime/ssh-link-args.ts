import type { SshEngineTarget } from './engine-target.js';

/** How often ssh asks the far side whether it is still there, and how many missed answers end it. */
export const SSH_ALIVE_INTERVAL_S = 5;
export const SSH_ALIVE_COUNT = 3;

/** The remote command that prints the engine endpoint the remote docker CLI would dial. */
export const REMOTE_ENDPOINT_PROBE = "docker context inspect --format '{{.Endpoints.docker.Host}}'";

/**
 * The remote command the link holds open: `cat` of the link's stdin, a pipe from the forwarder. When
 * the forwarder dies, even by SIGKILL, the pipe closes, the remote `cat` ends and ssh exits with it;
 * `ssh -N` would run on, holding a link nobody uses.
 */
export const LINK_HOLD_COMMAND = 'cat';

// What every ssh run here shares: never a prompt (the forwarder has no terminal), no multiplexing
// through a ControlMaster of the user's config (the link is itself the one connection, and the
// master of its own control socket, which only the `-O` requests below use as clients), and the docker CLI's way of naming the user and port.
function commonArgs(target: SshEngineTarget, controlPath = 'none', master = false): string[] {
  const args = [
    '-T',
    '-o',
    'BatchMode=yes',
    '-o',
    `ControlMaster=${master ? 'yes' : 'no'}`,
    '-o',
    `ControlPath=${controlPath}`,
  ];
  if (target.user !== null) args.push('-l', target.user);
  if (target.port !== null) args.push('-p', String(target.port));
  return args;
}

/** `ssh` arguments that ask the remote CLI which engine socket it uses (see REMOTE_ENDPOINT_PROBE). Pure. */
export function sshProbeArgs(target: SshEngineTarget): string[] {
  return [...commonArgs(target), '-o', 'ConnectTimeout=15', '--', target.host, REMOTE_ENDPOINT_PROBE];
}

/**
 * `ssh` arguments for the link: the remote engine socket forwarded to `localSocket` (created 0600 by
 * ssh, a stale one replaced), exiting when the forward cannot be set up or the far side stops
 * answering. With `controlPath`, the link is also the master of that control socket (ssh makes it
 * 0600), through which forwards to the containers' addresses are added (see sshDialForwardArgs);
 * LogLevel INFO makes it say on stderr why sshd refused a channel ("administratively prohibited").
 * No secret is on this argv: ssh finds keys and agents as it always does. Pure.
 */
export function sshLinkArgs(
  target: SshEngineTarget,
  localSocket: string,
  remoteSocket: string,
  controlPath: string | null = null,
): string[] {
  return [
    ...commonArgs(target, controlPath ?? 'none', controlPath !== null),
    ...(controlPath === null ? [] : ['-o', 'LogLevel=INFO']),
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    `ServerAliveInterval=${SSH_ALIVE_INTERVAL_S}`,
    '-o',
    `ServerAliveCountMax=${SSH_ALIVE_COUNT}`,
    '-o',
    'ConnectTimeout=15',
    '-o',
    'StreamLocalBindUnlink=yes',
    '-o',
    'StreamLocalBindMask=0177',
    '-L',
    `${localSocket}:${remoteSocket}`,
    '--',
    target.host,
    LINK_HOLD_COMMAND,
  ];
}

/** How an address goes into `-L`: an IPv6 one in brackets, since the spec is colon-separated. */
function forwardHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * `ssh` arguments that ask the link's master (through its control socket) to add (`forward`) or
 * withdraw (`cancel`) a forward of `localSocket` to `host:port` as the remote host dials it: each
 * connection to the socket is then one channel of the link, with no process of its own. Pure.
 */
export function sshDialForwardArgs(
  target: SshEngineTarget,
  controlPath: string,
  operation: 'forward' | 'cancel',
  localSocket: string,
  host: string,
  port: number,
): string[] {
  return [
    ...commonArgs(target, controlPath),
    '-O',
    operation,
    '-L',
    `${localSocket}:${forwardHost(host)}:${port}`,
    '--',
    target.host,
  ];
}
