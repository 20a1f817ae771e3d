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
// through a ControlMaster of the user's config (the link is itself the one connection), and the
// docker CLI's way of naming the user and port.
function commonArgs(target: SshEngineTarget): string[] {
  const args = ['-T', '-o', 'BatchMode=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none'];
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
 * answering. No secret is on this argv: ssh finds keys and agents as it always does. Pure.
 */
export function sshLinkArgs(target: SshEngineTarget, localSocket: string, remoteSocket: string): string[] {
  return [
    ...commonArgs(target),
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
