import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import type { DaemonSpec } from '../control/daemon-spec.js';

/**
 * How long a forwarder whose workspace container is gone waits for its replacement: a rebuild
 * (`devcontainer up --remove-existing-container`, VS Code's "Rebuild Container") removes the old
 * container first, then may build an image (Features) before it starts the new one.
 */
export const REPLACEMENT_WAIT_MS = 180_000;
/** How often the engine is asked for the replacement meanwhile. */
export const REPLACEMENT_POLL_MS = 400;

/**
 * Pure: the spec of the forwarder that takes over from `spec` in the container that replaced its
 * own: the same declarations and attributes, the ports declared in the old container now in the new.
 */
export function specForReplacement(spec: DaemonSpec, replacementId: string): DaemonSpec {
  return {
    ...spec,
    containerId: replacementId,
    declared: spec.declared.map((declared) =>
      declared.containerId === spec.containerId ? { ...declared, containerId: replacementId } : declared,
    ),
  };
}

/**
 * Waits for a running container with the workspace's labels other than the one that went away;
 * resolves to it, or to null after REPLACEMENT_WAIT_MS or once `signal` is aborted.
 */
export async function waitForReplacement(
  docker: Docker,
  labels: Readonly<Record<string, string>>,
  goneId: string,
  signal: AbortSignal,
): Promise<ContainerInfo | null> {
  const deadline = Date.now() + REPLACEMENT_WAIT_MS;
  while (Date.now() < deadline && !signal.aborted) {
    const ids = await docker.listByLabels({ ...labels }, false).catch(() => []);
    for (const id of ids.filter((other) => other !== goneId)) {
      const info = await docker.inspect(id).catch(() => null);
      if (info?.running && info.pid > 0) return info;
    }
    await sleep(REPLACEMENT_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  return null;
}
