/** One listening socket as the kernel lists it in /proc/net/tcp or /proc/net/tcp6. */
export interface SocketListener {
  family: 4 | 6;
  address: string;
  port: number;
  inode: number;
}

/** How widely a port is bound: loopback only, every address, or one particular address. */
export type BindScope = 'loopback' | 'wildcard' | 'specific';

/** Every listening socket on one port, merged across IPv4 and IPv6. */
export interface PortListener {
  port: number;
  scope: BindScope;
  /** address to dial inside the container */
  dialAddress: string;
  sockets: SocketListener[];
  /** Absent for TCP; 'udp' for a UDP server (see proc-net-udp.ts). */
  protocol?: 'udp';
}

const TCP_LISTEN_STATE = '0A';
// A real line is ~150 characters (tcp) or ~180 (tcp6); anything far longer is not the kernel's.
const MAX_LINE_CHARS = 1024;
const MIN_FIELDS = 10;
const MAX_FIELDS = 32;
const HEX_RE = /^[0-9A-Fa-f]+$/;
const DECIMAL_RE = /^[0-9]{1,20}$/;

/** The LISTEN sockets in the text of /proc/net/tcp (family 4) or /proc/net/tcp6 (family 6). */
export function parseProcNetTcp(text: string, family: 4 | 6): SocketListener[] {
  const listeners: SocketListener[] = [];
  if (typeof text !== 'string') return listeners;
  // Walk the text with indexOf instead of split() so a huge input costs one pass and no giant array.
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end - start <= MAX_LINE_CHARS) {
      const listener = parseLine(text.slice(start, end), family);
      if (listener) listeners.push(listener);
    }
    start = end + 1;
  }
  return listeners;
}

function parseLine(line: string, family: 4 | 6): SocketListener | null {
  const fields = line.trim().split(/\s+/);
  if (fields.length < MIN_FIELDS || fields.length > MAX_FIELDS) return null;
  // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
  const [slot, local, , state, , , , , , inodeText] = fields;
  if (!slot || !local || !state || !inodeText) return null;
  if (!/^[0-9]+:$/.test(slot) || state.toUpperCase() !== TCP_LISTEN_STATE || !DECIMAL_RE.test(inodeText)) {
    return null;
  }
  const colon = local.indexOf(':');
  if (colon < 0) return null;
  const addressHex = local.slice(0, colon);
  const portHex = local.slice(colon + 1);
  if (portHex.length < 1 || portHex.length > 4 || !HEX_RE.test(portHex)) return null;
  const port = parseInt(portHex, 16);
  const inode = Number(inodeText);
  if (port === 0 || !Number.isSafeInteger(inode)) return null;
  const decoded = decodeAddress(addressHex, family);
  return decoded ? { family: decoded.family, address: decoded.address, port, inode } : null;
}

// The kernel prints each 32-bit word of the address in host byte order, which on every platform
// Docker runs on is little-endian: 127.0.0.1 is 0100007F.
function decodeAddress(hex: string, family: 4 | 6): { family: 4 | 6; address: string } | null {
  const wordCount = family === 4 ? 1 : 4;
  if (hex.length !== wordCount * 8 || !HEX_RE.test(hex)) return null;
  const bytes: number[] = [];
  for (let word = 0; word < wordCount; word++) {
    for (let byte = 3; byte >= 0; byte--) {
      const offset = word * 8 + byte * 2;
      bytes.push(parseInt(hex.slice(offset, offset + 2), 16));
    }
  }
  if (family === 4) return { family: 4, address: bytes.join('.') };
  const isMapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (isMapped) return { family: 4, address: bytes.slice(12).join('.') };
  return { family: 6, address: formatIpv6(bytes) };
}

// RFC 5952 text: lower case, no leading zeros, the longest run (first on a tie) of two or more
// zero groups shortened to '::'.
function formatIpv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const text = groups.map((g) => g.toString(16));
  if (bestStart < 0) return text.join(':');
  const head = text.slice(0, bestStart).join(':');
  const tail = text.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The listeners grouped into one entry per port, sorted by port. */
export function groupListenersByPort(sockets: readonly SocketListener[]): PortListener[] {
  const byPort = new Map<number, SocketListener[]>();
  for (const socket of sockets) {
    const group = byPort.get(socket.port);
    if (group) group.push(socket);
    else byPort.set(socket.port, [socket]);
  }
  return [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, group]) => ({ port, ...describeBinding(group), sockets: group }));
}

function describeBinding(group: readonly SocketListener[]): { scope: BindScope; dialAddress: string } {
  const v4 = group.filter((s) => s.family === 4);
  if (v4.some((s) => isWildcardAddress(s.address))) return { scope: 'wildcard', dialAddress: '127.0.0.1' };
  // A '::' socket serves ::1 whether or not it is dual-stack; /proc does not say which it is.
  if (group.some((s) => isWildcardAddress(s.address))) return { scope: 'wildcard', dialAddress: '::1' };
  if (group.every((s) => isLoopbackAddress(s.address))) {
    return { scope: 'loopback', dialAddress: v4[0]?.address ?? '::1' };
  }
  const specific = group.filter((s) => !isLoopbackAddress(s.address));
  const chosen = specific.find((s) => s.family === 4) ?? specific[0];
  return { scope: 'specific', dialAddress: chosen?.address ?? '127.0.0.1' };
}
