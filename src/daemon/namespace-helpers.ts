import type pino from 'pino';
import type { ListenerSource } from '../forwarding/detect/listener-source.js';
import { findNamespaceAccess, spawnHelperIn } from '../forwarding/relay/netns/netns-access.js';
import { agentIdleMs } from '../forwarding/relay/agent/agent-on-demand.js';
import { NamespaceHelper } from '../forwarding/relay/netns/namespace-helper.js';
import type { ContainerInfo } from '../runtime/docker.js';

type Logger = pino.Logger;

/**
 * The helper in the container's network namespace (see NamespaceHelper), where this process may
 * start one: the container's init is proven on this machine (listeners read from the host), and we
 * are root or the owner of its rootless engine's user namespace. Null otherwise (logged why).
 */
export async function namespaceHelperFor(
  container: ContainerInfo,
  source: ListenerSource,
  log: Logger,
): Promise<NamespaceHelper | null> {
  const access = await findNamespaceAccess(container.pid, source.kind === 'host-proc');
  if (!access.allowed) {
    log.info({ reason: access.reason }, 'no namespace helper for this container');
    return null;
  }
  const engineProcess = { id: container.id, pid: container.pid, startedAt: container.startedAt };
  return new NamespaceHelper(() => spawnHelperIn(engineProcess, access.nsenterFlags), {
    onStarted: (pid) =>
      log.info({ helperPid: pid }, "namespace helper running in the container's network namespace"),
    onExit: (code, signal) =>
      log.warn({ code, signal }, 'namespace helper exited; the next connection starts another'),
    idleMs: agentIdleMs(),
    onIdleStop: (idleMs) =>
      log.info(
        { idleMs },
        'namespace helper stopped after an idle spell; the next connection starts another',
      ),
    onStartFailed: (reason, retryInMs) =>
      log.warn(
        { reason, retryInMs },
        'namespace helper cannot start: connections take the next path until it is tried again',
      ),
  });
}
