import { isIP } from 'node:net';
import { ForwarderError } from '../common/errors.js';

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
const PYTHON_AGENT = String.raw`# portpilot relay agent (python3): see relay-agent-script.ts for the protocol.
import os, selectors, socket, sys, threading, time
from _operator import _compare_digest as compare_digest  # hmac's, without its OpenSSL (4 MB)
listen_address, allowed_peer = sys.argv[1], sys.argv[2]
MAGIC, HEADER_BYTES, TOKEN_END = b'${AGENT_MAGIC}', ${AGENT_HEADER_BYTES}, 4 + ${AGENT_TOKEN_BYTES}
V4_MAPPED = bytes(10) + b'\xff\xff'
F_SETPIPE_SZ, F_GETPIPE_SZ, IP_BIND_ADDRESS_NO_PORT = 1031, 1032, 24
HEADER_TIMEOUT_S, MAX_PENDING = ${AGENT_HEADER_TIMEOUT_S}, ${AGENT_MAX_PENDING_HEADERS}
threading.stack_size(262144)

def reset(*socks):
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\1\0\0\0\0\0\0\0')
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def splice_all(src, dst, r, w):
    import fcntl
    size, moved, grow = fcntl.fcntl(w, F_GETPIPE_SZ), 0, True
    while True:
        n = os.splice(src, w, size)
        if n == 0:
            return
        moved += n
        while n > 0:
            n -= os.splice(r, dst, n)
        if grow and moved >= ${AGENT_PIPE_BYTES}:
            grow = False
            try:
                size = fcntl.fcntl(w, F_SETPIPE_SZ, ${AGENT_PIPE_BYTES})
            except OSError:
                pass

def copy_all(src, dst):
    view = memoryview(bytearray(${AGENT_COPY_BUFFER_BYTES}))
    while True:
        n = src.recv_into(view)
        if n == 0:
            return
        dst.sendall(view[:n])

def pump(src, dst):
    try:
        if hasattr(os, 'splice'):
            r, w = os.pipe()
            try:
                splice_all(src.fileno(), dst.fileno(), r, w)
            finally:
                os.close(r)
                os.close(w)
        else:
            copy_all(src, dst)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        reset(src, dst)

def connect_target(header):
    raw, port = header[TOKEN_END:TOKEN_END + 16], int.from_bytes(header[-2:], 'big')
    family = socket.AF_INET if raw[:12] == V4_MAPPED else socket.AF_INET6
    address = socket.inet_ntop(family, raw[12:] if family == socket.AF_INET else raw)
    target = socket.socket(family, socket.SOCK_STREAM)
    try:
        target.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        # Binding first fails for any address not the container's own: never a proxy to elsewhere.
        target.bind((address, 0))
        if port != 0:
            target.settimeout(${AGENT_TARGET_CONNECT_TIMEOUT_S})
            target.connect((address, port))
            target.settimeout(None)
            return target
    except OSError:
        target.close()
        raise
    target.close()
    return None

def serve(client, header):
    target = None
    try:
        try:
            target = connect_target(header)
        except OSError as error:
            client.sendall(bytes([min(error.errno or 255, 255)]))
            return
        client.sendall(b'\0')
        if target is None:
            return
        for s in (client, target):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = threading.Thread(target=pump, args=(client, target), daemon=True)
        upstream.start()
        pump(target, client)
        upstream.join()
    except OSError:
        pass
    finally:
        client.close()
        if target is not None:
            target.close()

# Headers are read here, in one thread for all connections, each with one deadline for the whole
# header: a peer that trickles a byte at a time, or opens many connections, costs a descriptor and
# a few bytes each, never a thread. A connection gets its thread once its token is right.
selector, pending = selectors.DefaultSelector(), {}  # pending: socket -> [deadline, header], oldest first

def drop(conn):
    del pending[conn]
    selector.unregister(conn)
    conn.close()

def accept(server):
    while True:
        try:
            conn, peer = server.accept()
        except BlockingIOError:
            return
        except OSError:
            return time.sleep(0.1)  # out of descriptors, say: let connections finish
        if allowed_peer and peer[0] != allowed_peer:
            conn.close()
            continue
        if len(pending) >= MAX_PENDING:
            drop(next(iter(pending)))
        conn.setblocking(False)
        pending[conn] = [time.monotonic() + HEADER_TIMEOUT_S, b'']
        selector.register(conn, selectors.EVENT_READ)

def read_header(conn):
    try:
        more = conn.recv(HEADER_BYTES - len(pending[conn][1]))
    except BlockingIOError:
        return
    except OSError:
        more = b''
    header = pending[conn][1] = pending[conn][1] + more
    complete = len(header) == HEADER_BYTES
    if not more or complete and (header[:4] != MAGIC or not compare_digest(header[4:TOKEN_END], token)):
        drop(conn)
    elif complete:
        del pending[conn]
        selector.unregister(conn)
        conn.setblocking(True)
        threading.Thread(target=serve, args=(conn, header), daemon=True).start()

def accept_all(server):
    server.setblocking(False)
    selector.register(server, selectors.EVENT_READ)
    while True:
        deadline = min((entry[0] for entry in pending.values()), default=None)
        for key, _ in selector.select(None if deadline is None else max(0, deadline - time.monotonic())):
            if key.fileobj is server:
                accept(server)
            elif key.fileobj in pending:
                read_header(key.fileobj)
        now = time.monotonic()
        for conn in [conn for conn, entry in pending.items() if entry[0] <= now]:
            drop(conn)

line = b''
while not line.endswith(b'\n'):
    more = os.read(0, 256)
    if not more:
        os._exit(0)
    line += more
token = bytes.fromhex(line.decode().strip())
try:
    server = socket.socket(socket.AF_INET6 if ':' in listen_address else socket.AF_INET)
    server.bind((listen_address, 0))
    server.listen(1024)
except OSError as error:
    sys.stderr.write('relay agent cannot listen on %s: %s\n' % (listen_address, error))
    os._exit(1)
sys.stdout.write('{"port": %d}\n' % server.getsockname()[1])
sys.stdout.flush()
threading.Thread(target=accept_all, args=(server,), daemon=True).start()
while os.read(0, 4096):
    pass
os._exit(0)
`;

// perl-base has no threads, and a fork per connection measured twice python's set-up time and
// ~400 KiB per connection: one process serves every connection from a select() loop instead, with
// non-blocking sockets. An end is read only while its peer's buffer is empty (backpressure), and
// its EOF is passed on with shutdown() once that buffer has drained.
const PERL_AGENT = String.raw`# portpilot relay agent (perl): see relay-agent-script.ts for the protocol.
use strict;
use POSIX ();
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Socket qw(AF_INET AF_INET6 SOCK_STREAM SOL_SOCKET SO_ERROR SO_LINGER IPPROTO_IP IPPROTO_TCP
  TCP_NODELAY SHUT_WR NI_NUMERICHOST inet_pton getnameinfo pack_sockaddr_in pack_sockaddr_in6
  unpack_sockaddr_in unpack_sockaddr_in6);
my ($listen_address, $allowed_peer) = @ARGV;
my ($magic, $header_bytes, $token_end) = ('${AGENT_MAGIC}', ${AGENT_HEADER_BYTES}, 4 + ${AGENT_TOKEN_BYTES});
my ($buffer_bytes, $header_timeout_s, $connect_timeout_s) = (${AGENT_COPY_BUFFER_BYTES}, ${AGENT_HEADER_TIMEOUT_S}, ${AGENT_TARGET_CONNECT_TIMEOUT_S});
$SIG{PIPE} = 'IGNORE';
my $line = '';
while ($line !~ /\n/) { sysread(STDIN, $line, 256, length $line) or POSIX::_exit(0) }
my $token = pack('H*', $line =~ /^([0-9a-f]+)/ ? $1 : '');
# Each socket is an end: { fh, fd, out (bytes for it), sent (of out), peer, eof (its input ended),
# shut (FIN sent to it), header (while it is read), connecting, deadline }.
my %ends;

sub sockaddr_of {
  my ($family, $address, $port) = @_;
  $family == AF_INET ? pack_sockaddr_in($port, $address) : pack_sockaddr_in6($port, $address);
}
sub same_bytes {
  my ($x, $y, $diff) = (@_, 0);
  return 0 unless length $x == length $y;
  $diff |= ord(substr($x, $_, 1)) ^ ord(substr($y, $_, 1)) for 0 .. length($x) - 1;
  $diff == 0;
}
sub add {
  my ($fh, %fields) = @_;
  fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK);
  my $end = { fh => $fh, fd => fileno($fh), out => '', sent => 0, %fields };
  $ends{$end->{fd}} = $end;
}
sub live { my ($end) = @_; $end && ($ends{$end->{fd}} || 0) == $end }
sub drop { for my $end (@_) { next unless live($end); delete $ends{$end->{fd}}; close $end->{fh} } }
sub abort {
  my ($end) = @_;
  for ($end, $end->{peer}) { setsockopt($_->{fh}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if live($_) }
  drop($end, $end->{peer});
}
sub answer {
  my ($client, $target, $errno) = @_;
  syswrite($client->{fh}, $errno ? chr($errno & 255 || 255) : "\0");
  return drop($client, $target) if $errno || !$target;
  delete @$_{qw(connecting deadline)} for $client, $target;
  ($client->{peer}, $target->{peer}) = ($target, $client);
  setsockopt($_->{fh}, IPPROTO_TCP, TCP_NODELAY, 1) for $client, $target;
}
sub start_target {
  my ($client) = @_;
  my $header = delete $client->{header};
  return drop($client) unless substr($header, 0, 4) eq $magic && same_bytes(substr($header, 4, $token_end - 4), $token);
  my ($raw, $port) = (substr($header, $token_end, 16), unpack('n', substr($header, -2)));
  my $v4 = substr($raw, 0, 12) eq ("\0" x 10) . "\xff\xff";
  my ($family, $address) = $v4 ? (AF_INET, substr($raw, 12)) : (AF_INET6, $raw);
  my $fh;
  # Binding first fails for any address not the container's own: never a proxy to elsewhere.
  return answer($client, undef, $! + 0) unless socket($fh, $family, SOCK_STREAM, 0)
    && (setsockopt($fh, IPPROTO_IP, 24, 1) || 1) && bind($fh, sockaddr_of($family, $address, 0));
  return answer($client, undef, 0) if $port == 0;
  my $target = add($fh, peer => $client);
  return answer($client, $target, 0) if connect($fh, sockaddr_of($family, $address, $port));
  return answer($client, $target, $! + 0) unless $!{EINPROGRESS};
  @$target{qw(connecting deadline)} = (1, time + $connect_timeout_s);
  $client->{connecting} = 1;
  delete $client->{deadline};
}
sub pull_header {
  my ($client) = @_;
  my $got = sysread($client->{fh}, $client->{header}, $header_bytes - length $client->{header}, length $client->{header});
  return if !defined $got && $!{EAGAIN};
  return drop($client) unless $got;
  start_target($client) if length $client->{header} == $header_bytes;
}
sub push_out {
  my ($end) = @_;
  if (length $end->{out}) {
    my $put = syswrite($end->{fh}, $end->{out}, length($end->{out}) - $end->{sent}, $end->{sent});
    return if !defined $put && $!{EAGAIN};
    return abort($end) unless defined $put;
    # An offset, not a chop from the front: the buffer is not moved for every partial write.
    @$end{qw(out sent)} = ('', 0) if ($end->{sent} += $put) == length $end->{out};
  }
  if ($end->{peer}{eof} && !length $end->{out} && !$end->{shut}) { shutdown($end->{fh}, SHUT_WR); $end->{shut} = 1 }
  drop($end, $end->{peer}) if $end->{shut} && $end->{peer}{shut};
}
# Reads on while every read is written at once: a select() per chunk would cost more than the copy.
sub pull {
  my ($end) = @_;
  for (1 .. 16) {
    my $got = sysread($end->{fh}, $end->{peer}{out}, $buffer_bytes, length $end->{peer}{out});
    return if !defined $got && $!{EAGAIN};
    return abort($end) unless defined $got;
    $end->{eof} = 1 if $got == 0;
    push_out($end->{peer});
    return if $end->{eof} || !live($end) || length $end->{peer}{out};
  }
}

my $family = index($listen_address, ':') >= 0 ? AF_INET6 : AF_INET;
my $server;
unless (socket($server, $family, SOCK_STREAM, 0)
  && bind($server, sockaddr_of($family, inet_pton($family, $listen_address), 0)) && listen($server, 1024)) {
  print STDERR "relay agent cannot listen on $listen_address: $!\n";
  POSIX::_exit(1);
}
fcntl($server, F_SETFL, fcntl($server, F_GETFL, 0) | O_NONBLOCK);
my $port = ($family == AF_INET ? unpack_sockaddr_in(getsockname($server)) : unpack_sockaddr_in6(getsockname($server)))[0];
syswrite(STDOUT, qq({"port": $port}\n));
while (1) {
  my ($rin, $win) = ('', '');
  vec($rin, 0, 1) = 1;
  vec($rin, fileno($server), 1) = 1;
  for my $end (values %ends) {
    if ($end->{connecting}) { vec($win, $end->{fd}, 1) = 1 if $end->{deadline} }
    elsif (defined $end->{header}) { vec($rin, $end->{fd}, 1) = 1 }
    else {
      vec($rin, $end->{fd}, 1) = 1 if !$end->{eof} && !length $end->{peer}{out};
      vec($win, $end->{fd}, 1) = 1 if length $end->{out};
    }
  }
  my $timeout = (grep { $_->{deadline} } values %ends) ? 1 : undef;
  next if select(my $rout = $rin, my $wout = $win, undef, $timeout) < 0;
  last if vec($rout, 0, 1) && !sysread(STDIN, my $ignored, 4096);
  while (vec($rout, fileno($server), 1) && (my $peer = accept(my $fh, $server))) {
    my (undef, $peer_address) = getnameinfo($peer, NI_NUMERICHOST);
    if ($allowed_peer eq '' || $peer_address eq $allowed_peer) { add($fh, header => '', deadline => time + $header_timeout_s) }
    else { close $fh }
  }
  # A snapshot: handling one end may drop others.
  for my $end (my @all = values %ends) {
    next unless live($end);
    my ($readable, $writable) = (vec($rout, $end->{fd}, 1), vec($wout, $end->{fd}, 1));
    if ($end->{deadline} && time > $end->{deadline}) { drop($end, $end->{peer}) }
    elsif ($end->{connecting}) { answer($end->{peer}, $end, unpack('i', getsockopt($end->{fh}, SOL_SOCKET, SO_ERROR))) if $writable && $end->{deadline} }
    elsif (defined $end->{header}) { pull_header($end) if $readable }
    else { push_out($end) if $writable; pull($end) if $readable && live($end) }
  }
}
POSIX::_exit(0);
`;

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
