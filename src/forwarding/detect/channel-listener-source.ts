import type { ChangeHint, ListenerSource } from './listener-source.js';
import {
  applyReport,
  EMPTY_VIEW,
  listenersOfView,
  type ReportFrame,
  type ReportedView,
} from './listener-report.js';
import type { PortListener } from './proc-net-tcp.js';
import type { SocketOwnerFinder } from './socket-owners.js';

/** How long a read waits for a channel's first report before it reads through exec instead. */
export const FIRST_REPORT_WAIT_MS = 2_000;
/** While changes come and the full report asked for does not, it is asked for again this often. */
export const RESYNC_RETRY_MS = 2_000;

/** What reports the container's serving sockets from inside it (see OnDemandMux.watchListeners). */
export interface ListenerReporter {
  /** Has `onReport` told every report frame; false when no channel can run now. */
  watchListeners(onReport: (frame: ReportFrame) => void): Promise<boolean>;
  /** Asks the watching channel for a full report (a resync). */
  askFullReport(): void;
}

// The owner finders of channel sources, for reportedOwners.
const ownerFinders = new WeakMap<ListenerSource, (fallback: SocketOwnerFinder) => SocketOwnerFinder>();

/**
 * Where the host cannot read the container's /proc (a remote engine, a rootless one), the mux agent
 * watches its own namespace's tables and sends what changed (see mux-codec.ts): a change is seen
 * within a tick and a channel's round trip, and no exec runs per scan. The view is the last whole
 * report; a gap or a frame that cannot be applied asks for a full one. While no channel can run,
 * `fallback` (the tables through `docker exec cat`) serves, with its kind.
 */
export function channelListenerSource(reporter: ListenerReporter, fallback: ListenerSource): ListenerSource {
  let view: ReportedView = EMPTY_VIEW;
  let published: ReportedView | null = null;
  let fresh = false;
  let askedAt = -Infinity;
  let asking: Promise<boolean> | null = null;
  let reported: (() => void) | null = null;
  const onReport = (frame: ReportFrame) => {
    const result = applyReport(view, frame);
    view = result.view;
    if (result.outcome === 'applied') {
      published = view;
      fresh = true;
      reported?.();
    } else if (
      result.outcome === 'resync' ||
      (result.outcome === 'ignored' && Date.now() - askedAt >= RESYNC_RETRY_MS)
    ) {
      askedAt = Date.now();
      reporter.askFullReport();
    }
  };
  const reporting = (): Promise<boolean> =>
    (asking ??= reporter
      .watchListeners(onReport)
      .catch(() => false)
      .finally(() => (asking = null)));
  // A channel just asked answers within a round trip: the first read waits for that, not for exec.
  const firstReport = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FIRST_REPORT_WAIT_MS);
      reported = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const notReporting = () => {
    view = EMPTY_VIEW;
    published = null;
  };
  const source: ListenerSource = {
    kind: fallback.kind,
    async mayHaveChanged(): Promise<ChangeHint> {
      if (!(await reporting())) {
        notReporting();
        return fallback.mayHaveChanged();
      }
      const hint = fresh ? 'processes' : 'none';
      fresh = false;
      return hint;
    },
    async read(): Promise<PortListener[]> {
      if (!(await reporting())) {
        notReporting();
        return fallback.read();
      }
      if (published === null) await firstReport();
      return published === null ? fallback.read() : listenersOfView(published);
    },
  };
  ownerFinders.set(source, (other) => ({
    // The agent sends each socket's owner with the socket; those it could not see (another user's
    // process, for an agent that does not run as root) are left to `other`.
    async find(inodes) {
      if (published === null) return other.find(inodes);
      const owners = new Map<number, string>();
      const unknown = new Set<number>();
      for (const inode of inodes) {
        const line = published.owners.get(inode)?.commandLine ?? '';
        if (line === '') unknown.add(inode);
        else owners.set(inode, line);
      }
      if (unknown.size > 0) for (const [inode, line] of await other.find(unknown)) owners.set(inode, line);
      return owners;
    },
  }));
  return source;
}

/**
 * The owners of a source's sockets: as its channel reported them for a channel source (`finder` for
 * those it did not, and while no channel runs), else `finder`.
 */
export function reportedOwners(source: ListenerSource, finder: SocketOwnerFinder): SocketOwnerFinder {
  return ownerFinders.get(source)?.(finder) ?? finder;
}
