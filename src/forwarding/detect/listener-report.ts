import { commandLineOf } from './socket-owners.js';
import { groupListenersByPort, parseProcNetTcp, type PortListener } from './proc-net-tcp.js';
import { DEFAULT_EPHEMERAL_RANGE, parsePortRange, type PortRange } from './proc-net-udp.js';
import { udpServers, withoutRuntimeSockets } from './listener-source.js';

/** One listener report frame as the mux agent sent it (see mux-codec.ts). */
export interface ReportFrame {
  /** LISTENERS_FULL: starts a report that replaces the view; else LISTENERS_CHANGED. */
  full: boolean;
  payload: Buffer;
}

/** The table a socket was read from. */
export type ReportTable = 'tcp' | 'tcp6' | 'udp' | 'udp6';

/** Who owns a socket: its pid in the container and its command line as `ports` shows it. */
export interface ReportedOwner {
  pid: number;
  commandLine: string;
}

/** What the host knows of the container's serving sockets from the agent's reports. */
export interface ReportedView {
  /** Each socket's table line, by key: table, local address and inode. */
  readonly sockets: ReadonlyMap<string, { table: ReportTable; line: string }>;
  readonly owners: ReadonlyMap<number, ReportedOwner>;
  readonly range: PortRange;
  /** The number the next frame must carry; null until a full report starts (none yet, or after a gap). */
  readonly expected: number | null;
}

/**
 * What a frame did: `applied` ends a report (the view is whole again), `partial` is part of one
 * with more to come, `ignored` came while a full report is awaited, and `resync` is a gap or a
 * frame that could not be applied: the view is left as it was, and a full report must be asked for.
 */
export type ReportOutcome = 'applied' | 'partial' | 'ignored' | 'resync';

/** The view before any report. */
export const EMPTY_VIEW: ReportedView = {
  sockets: new Map(),
  owners: new Map(),
  range: DEFAULT_EPHEMERAL_RANGE,
  expected: null,
};

const REPORT_HEADER_BYTES = 9;
const TABLES: ReadonlySet<string> = new Set(['tcp', 'tcp6', 'udp', 'udp6']);
const LOCAL_RE = /^[0-9A-Fa-f]{8}(?:[0-9A-Fa-f]{24})?:[0-9A-Fa-f]{4}$/;
const INODE_RE = /^[0-9]{1,20}$/;
const PID_RE = /^[1-9][0-9]{0,9}$/;
const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/**
 * Pure: the view after one report frame, and what the frame did. A frame is applied whole or not at
 * all: on `resync` the view keeps its sockets (the last whole report) and waits for a full one.
 */
export function applyReport(
  view: ReportedView,
  frame: ReportFrame,
): { view: ReportedView; outcome: ReportOutcome } {
  const gap = (): { view: ReportedView; outcome: ReportOutcome } => ({
    view: { ...view, expected: null },
    outcome: 'resync',
  });
  if (frame.payload.length < REPORT_HEADER_BYTES) return gap();
  const seq = frame.payload.readUInt32BE(0);
  const more = frame.payload.readUInt8(4);
  const count = frame.payload.readUInt32BE(5);
  if (!frame.full && view.expected === null) return { view, outcome: 'ignored' };
  if ((!frame.full && seq !== view.expected) || more > 1) return gap();
  const sockets = new Map(frame.full ? [] : view.sockets);
  const owners = new Map(frame.full ? [] : view.owners);
  let range = frame.full ? DEFAULT_EPHEMERAL_RANGE : view.range;
  const text = frame.payload.subarray(REPORT_HEADER_BYTES).toString('latin1');
  for (const record of text === '' ? [] : text.split('\n')) {
    const fields = record.split(' ');
    const [kind, first = '', second = '', third = ''] = fields;
    if (kind === '+' && TABLES.has(first)) {
      const line = record.slice(2 + first.length + 1);
      const key = keyOfLine(first, line);
      if (key === null || sockets.has(key)) return gap();
      sockets.set(key, { table: first as ReportTable, line });
    } else if (kind === '-' && fields.length === 4) {
      if (!sockets.delete(`${first} ${second} ${third}`)) return gap();
    } else if (kind === 'o' && fields.length === 4 && INODE_RE.test(first) && PID_RE.test(second)) {
      if (!HEX_RE.test(third)) return gap();
      const commandLine = commandLineOf(Buffer.from(third, 'hex').toString('utf8'));
      owners.set(Number(first), { pid: Number(second), commandLine });
    } else if (kind === 'r' && fields.length === 3) {
      range = parsePortRange(`${first} ${second}`);
    } else {
      return gap();
    }
  }
  if (more === 0 && sockets.size !== count) return gap();
  if (more === 0) {
    const inodes = new Set([...sockets.keys()].map((key) => Number(key.split(' ')[2])));
    for (const inode of owners.keys()) if (!inodes.has(inode)) owners.delete(inode);
  }
  const next = { sockets, owners, range, expected: (seq + 1) % 2 ** 32 };
  return { view: next, outcome: more === 0 ? 'applied' : 'partial' };
}

/** Pure: a socket's key (table, local address, inode) from its table line; null for a line that is not one. */
export function keyOfLine(table: string, line: string): string | null {
  const fields = line.trim().split(/\s+/);
  const local = fields[1] ?? '';
  const inode = fields[9] ?? '';
  if (!/^[0-9]+:$/.test(fields[0] ?? '') || !LOCAL_RE.test(local) || !INODE_RE.test(inode)) return null;
  return `${table} ${local} ${inode}`;
}

/** Pure: the TCP listeners and UDP servers of a view, as a read of the tables would give them. */
export function listenersOfView(view: ReportedView): PortListener[] {
  const lines = (table: ReportTable) =>
    [...view.sockets.values()]
      .filter((socket) => socket.table === table)
      .map((socket) => socket.line)
      .join('\n');
  return [
    ...groupListenersByPort(
      withoutRuntimeSockets([...parseProcNetTcp(lines('tcp'), 4), ...parseProcNetTcp(lines('tcp6'), 6)]),
    ),
    ...udpServers(`${lines('udp')}\n${lines('udp6')}`, view.range),
  ];
}
