import type { ChangeHint, ListenerSource } from './listener-source.js';
import { splitTables, udpServers, withoutRuntimeSockets } from './listener-source.js';
import { groupListenersByPort, type PortListener } from './proc-net-tcp.js';
import { parsePortRange } from './proc-net-udp.js';

/** How long a read waits for a channel's first report before it reads through exec instead. */
export const FIRST_REPORT_WAIT_MS = 2_000;

/**
 * Pure: the TCP listeners and UDP servers in the tables a mux agent reported (see
 * MuxChannel.watchListeners): the TCP tables as an exec's `cat` prints them, then the unconnected
 * UDP sockets and the ephemeral port range.
 */
export function parseReportedTables(tables: string): PortListener[] {
  return [
    ...groupListenersByPort(withoutRuntimeSockets(splitTables(tables))),
    ...udpServers(tables, parsePortRange(tables)),
  ];
}

/** What reports the container's listener tables from inside it (see OnDemandMux.watchListeners). */
export interface ListenerReporter {
  watchListeners(onTables: (tables: string) => void): Promise<boolean>;
}

/**
 * Where the host cannot read the container's /proc (a remote engine, a rootless one), the mux agent
 * reads its own namespace's tables every 100 ms and sends them when they change: a change is seen
 * within a tick and a channel's round trip, and no exec runs per scan. While no channel can run,
 * `fallback` (the tables through `docker exec cat`) serves, with its kind.
 */
export function channelListenerSource(reporter: ListenerReporter, fallback: ListenerSource): ListenerSource {
  let tables: string | null = null;
  let fresh = false;
  let asking: Promise<boolean> | null = null;
  let reported: (() => void) | null = null;
  const reporting = (): Promise<boolean> =>
    (asking ??= reporter
      .watchListeners((text) => {
        tables = text;
        fresh = true;
        reported?.();
      })
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
  return {
    kind: fallback.kind,
    async mayHaveChanged(): Promise<ChangeHint> {
      if (!(await reporting())) {
        tables = null;
        return fallback.mayHaveChanged();
      }
      const hint = fresh ? 'processes' : 'none';
      fresh = false;
      return hint;
    },
    async read(): Promise<PortListener[]> {
      if (!(await reporting())) return fallback.read();
      if (tables === null) await firstReport();
      return tables === null ? fallback.read() : parseReportedTables(tables);
    },
  };
}
