import { statePaths } from '../common/state-dir.js';
import type { Log } from '../common/log.js';
import { publicEntry, type PublicPortEntry } from '../forwarding/port-entry.js';
import { listPorts } from '../forwarding/host/registry.js';
import { listReverseEntries } from './reverse-entries.js';

/** Which forwards a command is about: one set of containers, or all. */
export type Scope =
  | { kind: 'all' }
  | {
      kind: 'containers';
      containerIds: ReadonlySet<string>;
      /** For a workspace: its Compose project, as its own config names it (null without Compose). */
      composeProject?: string | null;
    };

/**
 * The forwarded ports in scope, in their public shape, dead forwarders' entries pruned first, sorted
 * for display; registry damage found on the way goes to `warn`.
 */
export async function listForwardedPorts(
  stateDir: string,
  scope: Scope,
  warn: Log,
): Promise<PublicPortEntry[]> {
  const paths = statePaths(stateDir);
  const entries = await listPorts(paths, { onWarning: warn });
  const reverse = await listReverseEntries(paths, (id) => inScope(scope, id), warn);
  return entries
    .filter((entry) => inScope(scope, entry.containerId))
    .map(publicEntry)
    .concat(reverse)
    .sort((a, b) => a.containerName.localeCompare(b.containerName) || a.containerPort - b.containerPort);
}

/** True when the container is one the scope covers. */
export function inScope(scope: Scope, containerId: string): boolean {
  return scope.kind === 'all' || scope.containerIds.has(containerId);
}
