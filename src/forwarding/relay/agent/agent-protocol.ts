import { isIP } from 'node:net';
import { ForwarderError } from '../../../common/errors.js';
import { loadProgram } from '../../container-programs/program-text.js';

/**
 * The relay agent's protocol. The forwarder runs one agent per container with `docker exec -i`:
 *
 * - argv: LISTEN_ADDRESS ALLOWED_PEER. The agent listens on LISTEN_ADDRESS (the container's address
 *   on a network the host is on) at an ephemeral port, and closes at once any connection whose peer
 *   address is not ALLOWED_PEER (the host's address on that network; '' accepts any peer).
 * - stdin: the token, in hex, and a newline; then nothing. At EOF (the forwarder closed it, or died
 *   and took the `docker exec` client with it) the agent exits, and every connection it relays ends.
 *   The token never appears on argv, where anyone in the container could read it with `ps`.
 * - stdout: one line, `{"port": N}`, once it listens.
 * - each connection starts with AGENT_HEADER_BYTES from the host: AGENT_MAGIC, the token, the target
 *   address (16 bytes, IPv4 as ::ffff:a.b.c.d) and port (2 bytes, big-endian). A wrong header, or
 *   one not whole within AGENT_HEADER_TIMEOUT_S of the connect (however it trickles in), closes the
 *   connection, which costs the agent no thread or process before its token is checked. The agent
 *   connects to the target, which must be one of the container's own addresses (loopback included),
 *   and answers one status byte: 0 and the relay begins; else the errno of the failed connect, and it
 *   closes. Port 0 is a ping: answered with 0, then closed.
 */

/** The four bytes that open every header (the protocol's version). */
export const AGENT_MAGIC = 'PPA1';
/** Bytes of the secret token each forwarder gives its agent. */
export const AGENT_TOKEN_BYTES = 32;
/** Bytes of the header that starts every connection to the agent. */
export const AGENT_HEADER_BYTES = 4 + AGENT_TOKEN_BYTES + 16 + 2;
/** How long the agent waits for a connection's whole header before closing it. */
export const AGENT_HEADER_TIMEOUT_S = 5;
/**
 * At most this many connections wait for their header at once; one more closes the oldest. A
 * forwarder's header follows its connect at once, so only a peer that sends none stays this long.
 */
export const AGENT_MAX_PENDING_HEADERS = 1024;
/** How long the agent waits for a target in the container to accept its connection. */
export const AGENT_TARGET_CONNECT_TIMEOUT_S = 10;
/** The status byte of a connection whose target answered. */
export const AGENT_STATUS_CONNECTED = 0;
/** The largest pipe a python agent splices through; pipes start at the kernel's default (64 KiB). */
export const AGENT_PIPE_BYTES = 1_048_576;
/** The buffer of each direction where there is no splice (perl; python before 3.10). */
export const AGENT_COPY_BUFFER_BYTES = 262_144;

// Python ≥ 3.10 moves the bytes with os.splice through a pipe, never copying them to user space;
// it measured about a third of the CPU of recv_into/sendall. Each pipe starts at the default size
// and grows once its direction has moved AGENT_PIPE_BYTES (a bulk transfer): pipe capacity counts
// against the user's pipe-user-pages-soft (64 MiB for all of root's pipes on the host, container
// root included), which idle connections should not spend.
const PYTHON_AGENT = loadProgram('relay-agent.py', {
  AGENT_MAGIC,
  AGENT_HEADER_BYTES,
  AGENT_TOKEN_BYTES,
  AGENT_HEADER_TIMEOUT_S,
  AGENT_MAX_PENDING_HEADERS,
  AGENT_PIPE_BYTES,
  AGENT_COPY_BUFFER_BYTES,
  AGENT_TARGET_CONNECT_TIMEOUT_S,
});

// perl-base has no threads, and a fork per connection measured twice python's set-up time and
// ~400 KiB per connection: one process serves every connection from a select() loop instead, with
// non-blocking sockets. An end is read only while its peer's buffer is empty (backpressure), and
// its EOF is passed on with shutdown() once that buffer has drained.
const PERL_AGENT = loadProgram('relay-agent.pl', {
  AGENT_MAGIC,
  AGENT_HEADER_BYTES,
  AGENT_TOKEN_BYTES,
  AGENT_COPY_BUFFER_BYTES,
  AGENT_HEADER_TIMEOUT_S,
  AGENT_TARGET_CONNECT_TIMEOUT_S,
});

/** The interpreters an agent can run in, in the order they are tried (python3 splices; perl copies). */
export const AGENT_INTERPRETERS = ['python3', 'perl'] as const;
export type AgentInterpreter = (typeof AGENT_INTERPRETERS)[number];

/** Pure: the argv run in the container to start the agent (the token goes on its stdin, never here). */
export function agentArgv(
  interpreter: AgentInterpreter,
  listenAddress: string,
  allowedPeer: string | null,
): string[] {
  if (isIP(listenAddress) === 0) {
    throw new ForwarderError(`relay agent address '${listenAddress}' is not an IP address`);
  }
  if (allowedPeer !== null && isIP(allowedPeer) === 0) {
    throw new ForwarderError(`relay agent peer '${allowedPeer}' is not an IP address`);
  }
  const args = [listenAddress, allowedPeer ?? ''];
  return interpreter === 'python3'
    ? ['python3', '-I', '-S', '-c', PYTHON_AGENT, ...args]
    : ['perl', '-e', PERL_AGENT, ...args];
}

/** Pure: the header that opens a connection through the agent to address:port (port 0: a ping). */
export function encodeAgentHeader(token: Buffer, address: string, port: number): Buffer {
  if (token.length !== AGENT_TOKEN_BYTES) {
    throw new ForwarderError(`relay agent token has ${token.length} bytes, not ${AGENT_TOKEN_BYTES}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ForwarderError(`relay agent port ${port} is not a TCP port (0-65535)`);
  }
  const header = Buffer.alloc(AGENT_HEADER_BYTES);
  header.write(AGENT_MAGIC, 0, 'latin1');
  token.copy(header, AGENT_MAGIC.length);
  addressBytes(address).copy(header, AGENT_MAGIC.length + AGENT_TOKEN_BYTES);
  header.writeUInt16BE(port, AGENT_HEADER_BYTES - 2);
  return header;
}

/** Pure: the agent's port from its first stdout line, or null when the line is not that. */
export function parseAgentReady(line: string): number | null {
  const match = /^\s*\{\s*"port"\s*:\s*(\d{1,5})\s*\}\s*$/.exec(line);
  const port = match ? Number(match[1]) : NaN;
  return port >= 1 && port <= 65_535 ? port : null;
}

// IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d); IPv6 in full, '::' and a dotted tail expanded.
function addressBytes(address: string): Buffer {
  const bytes = Buffer.alloc(16);
  const kind = isIP(address);
  if (kind === 4) {
    bytes.writeUInt16BE(0xffff, 10);
    address.split('.').forEach((part, i) => (bytes[12 + i] = Number(part)));
    return bytes;
  }
  if (kind !== 6 || address.includes('%')) {
    throw new ForwarderError(`relay agent target '${address}' is not an IP address without a zone`);
  }
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number);
    text = `${text.slice(0, -dotted.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0')];
  groups.push(...tailGroups);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}
