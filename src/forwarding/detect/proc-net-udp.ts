import {
  groupListenersByPort,
  isLoopbackAddress,
  parseProcNetTcp,
  type PortListener,
} from './proc-net-tcp.js';

/** An inclusive range of ports, as /proc/sys/net/ipv4/ip_local_port_range prints it. */
export interface PortRange {
  from: number;
  to: number;
}

/** Linux's default ephemeral range, used when the container's cannot be read. */
export const DEFAULT_EPHEMERAL_RANGE: PortRange = { from: 32768, to: 60999 };

// A real line is ~130 characters (udp) or ~170 (udp6); anything far longer is not the kernel's.
const MAX_LINE_CHARS = 1024;
// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops: the
// kernel has printed exactly these 13 fields since 2.6.27. A /proc/net/tcp line has 17 (12 in
// TIME_WAIT), so a table read through one `cat` of every file cannot be taken for a UDP one.
const UDP_FIELDS = 13;
// A UDP socket's state is TCP_CLOSE (07) until connect(), then TCP_ESTABLISHED (01).
const UNCONNECTED_STATE = '07';
const ZERO_HEX = /^0+$/;
const HEX_ADDRESS = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{1,4})$/;

/**
 * Pure: the UDP sockets that serve, in the text of /proc/net/udp and /proc/net/udp6 (either, both,
 * or mixed with other tables: each line's own shape says what it is). A server is an unconnected
 * socket (no remote address) bound to a loopback or wildcard address; a connected socket is a
 * client's. Sockets whose port lies in `ephemeral` are clients' too (a resolver's, say): the kernel
 * gives an unbound socket a port from that range on its first send. Hostile text yields no sockets,
 * never an exception.
 */
export function parseProcNetUdp(
  text: string,
  ephemeral: PortRange = DEFAULT_EPHEMERAL_RANGE,
): PortListener[] {
  if (typeof text !== 'string') return [];
  const lines: { line: string; family: 4 | 6 }[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end - start <= MAX_LINE_CHARS) {
      const line = text.slice(start, end);
      const family = udpServerLineFamily(line);
      if (family !== null) lines.push({ line, family });
    }
    start = end + 1;
  }
  // The address and port decoding is the TCP table's: the same format, with the listen state.
  const sockets = lines.flatMap(({ line, family }) =>
    parseProcNetTcp(line.replace(/^(\s*\S+\s+\S+\s+\S+\s+)07(\s)/, '$10A$2'), family),
  );
  const serving = sockets.filter(
    (socket) =>
      (isLoopbackAddress(socket.address) || socket.address === '0.0.0.0' || socket.address === '::') &&
      !(socket.port >= ephemeral.from && socket.port <= ephemeral.to),
  );
  return groupListenersByPort(serving).map((listener) => ({ ...listener, protocol: 'udp' as const }));
}

/** The family of an unconnected UDP socket's line, or null for any other line. */
function udpServerLineFamily(line: string): 4 | 6 | null {
  const fields = line.trim().split(/\s+/);
  if (fields.length !== UDP_FIELDS) return null;
  const [slot, local, remote, state] = fields;
  if (!slot || !local || !remote || !/^[0-9]+:$/.test(slot) || state !== UNCONNECTED_STATE) return null;
  const localMatch = HEX_ADDRESS.exec(local);
  const remoteMatch = HEX_ADDRESS.exec(remote);
  if (
    !localMatch ||
    !remoteMatch ||
    !ZERO_HEX.test(remoteMatch[1] ?? '') ||
    !ZERO_HEX.test(remoteMatch[2] ?? '')
  ) {
    return null;
  }
  const addressLength = localMatch[1]?.length ?? 0;
  if (addressLength !== remoteMatch[1]?.length) return null;
  return addressLength === 8 ? 4 : 6;
}

/**
 * Pure: the range in the text of /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999"), or the
 * default when the text is not one.
 */
export function parsePortRange(text: string): PortRange {
  const match = typeof text === 'string' ? /^\s*(\d{1,5})\s+(\d{1,5})\s*$/m.exec(text) : null;
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (!match || from < 1 || to > 65535 || from > to) return DEFAULT_EPHEMERAL_RANGE;
  return { from, to };
}
