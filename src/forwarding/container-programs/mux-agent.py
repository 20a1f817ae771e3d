# portpilot mux agent (python3): see relay/mux/mux-codec.ts for the protocol.
# Each @@NAME@@ in single quotes is replaced, quotes and all, by mux-agent-argv.ts's constant NAME.
# One thread, one selector: stdin brings frames, stdout takes them, every stream is a non-blocking
# socket. A socket is read only while its stream has credit and stdout is not backed up; a stream's
# bytes from the host are never more than its window, so nothing here grows without bound.
import errno, os, selectors, socket, struct, sys, time
MAGIC, HEADER = b'@@MUX_MAGIC@@', struct.Struct('>BII')
MAX_PAYLOAD, WINDOW, DATA_BYTES = '@@MUX_MAX_PAYLOAD_BYTES@@', '@@MUX_INITIAL_WINDOW_BYTES@@', '@@MUX_DATA_FRAME_BYTES@@'
OUT_HIGH, CONNECT_TIMEOUT_S = '@@MUX_OUTPUT_HIGH_BYTES@@', '@@MUX_CONNECT_TIMEOUT_S@@'
OPEN, OPEN_OK, OPEN_FAIL, DATA = '@@MUX_OPEN@@', '@@MUX_OPEN_OK@@', '@@MUX_OPEN_FAIL@@', '@@MUX_DATA@@'
GRANT, EOF, CLOSE, RESET = '@@MUX_WINDOW@@', '@@MUX_EOF@@', '@@MUX_CLOSE@@', '@@MUX_RESET@@'
PING, PONG = '@@MUX_PING@@', '@@MUX_PONG@@'
WATCH, LISTENERS, TICK_S = '@@MUX_WATCH_LISTENERS@@', '@@MUX_LISTENERS@@', '@@MUX_LISTENER_TICK_MS@@' / 1000
IP_BIND_ADDRESS_NO_PORT, R, W = 24, selectors.EVENT_READ, selectors.EVENT_WRITE
sel, streams, out, rx = selectors.DefaultSelector(), {}, bytearray(MAGIC), bytearray()
# Once the host asks, the listener tables of this namespace, sent whenever they change.
tables_watch = {'on': False, 'last': None, 'next': 0.0}

class Stream:
    __slots__ = ('id', 'sock', 'connecting', 'deadline', 'inbuf', 'open', 'taken', 'credit',
                 'eof_in', 'eof_out', 'shut', 'mask')
    def __init__(self, sid, sock):
        self.id, self.sock, self.connecting, self.deadline = sid, sock, True, time.monotonic() + CONNECT_TIMEOUT_S
        self.inbuf, self.open, self.taken, self.credit = bytearray(), WINDOW, 0, WINDOW
        self.eof_in = self.eof_out = self.shut = False
        self.mask = 0

def frame(kind, sid, payload=b''):
    out.extend(HEADER.pack(kind, sid, len(payload)))
    out.extend(payload)

def watch(s):
    global starved
    if s.connecting:
        mask = W
    else:
        room = len(out) < OUT_HIGH
        starved = starved or not room
        mask = (R if not s.eof_out and s.credit > 0 and room else 0) | (W if s.inbuf else 0)
    if mask != s.mask:
        if s.mask == 0:
            sel.register(s.sock, mask, s)
        elif mask == 0:
            sel.unregister(s.sock)
        else:
            sel.modify(s.sock, mask, s)
        s.mask = mask

def forget(s, rst=False):
    del streams[s.id]
    if s.mask:
        sel.unregister(s.sock)
    if rst:
        try:
            s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        except OSError:
            pass
    s.sock.close()

def abort(s):
    forget(s, True)
    frame(RESET, s.id)

def reason(error):
    code = error if isinstance(error, int) else getattr(error, 'errno', None)
    if code:
        return ('%s (%s)' % (errno.errorcode.get(code, code), os.strerror(code))).encode('ascii', 'replace')
    return str(error).encode('ascii', 'replace')[:200]

def open_stream(sid, payload):
    if sid in streams or len(payload) < 3:
        return frame(OPEN_FAIL, sid, b'malformed OPEN')
    port, address = int.from_bytes(payload[:2], 'big'), payload[2:].decode('ascii', 'replace')
    sock = None
    try:
        sock = socket.socket(socket.AF_INET6 if ':' in address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        except OSError:
            pass
        # Binding first fails for any address not the container's own: never a proxy to elsewhere.
        sock.bind((address, 0))
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((address, port))
    except (OSError, ValueError, OverflowError) as error:
        if sock is not None:
            sock.close()
        return frame(OPEN_FAIL, sid, reason(error))
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        return frame(OPEN_FAIL, sid, reason(code))
    s = streams[sid] = Stream(sid, sock)
    watch(s)

def connected(s):
    code = s.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        forget(s)
        return frame(OPEN_FAIL, s.id, reason(code))
    s.connecting = False
    frame(OPEN_OK, s.id)
    watch(s)

def finish(s):
    if s.shut and s.eof_out:
        forget(s)
        frame(CLOSE, s.id)
        return True
    return False

def push(s):
    if s.inbuf:
        try:
            n = s.sock.send(s.inbuf)
        except BlockingIOError:
            n = 0
        except OSError:
            return abort(s)
        del s.inbuf[:n]
        s.taken += n
        if s.taken >= WINDOW // 2:
            frame(GRANT, s.id, s.taken.to_bytes(4, 'big'))
            s.open, s.taken = s.open + s.taken, 0
    if s.eof_in and not s.inbuf and not s.shut:
        try:
            s.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        s.shut = True
    if not finish(s):
        watch(s)

def pull(s):
    for _ in range(16):
        n = min(DATA_BYTES, s.credit)
        if n <= 0 or len(out) >= OUT_HIGH:
            break
        try:
            data = s.sock.recv(n)
        except BlockingIOError:
            break
        except OSError:
            return abort(s)
        if not data:
            s.eof_out = True
            frame(EOF, s.id)
            if finish(s):
                return
            break
        s.credit -= len(data)
        frame(DATA, s.id, data)
    watch(s)

def listening(path):
    try:
        with open(path, 'rb') as table:
            lines = table.read().split(b'\n')
    except OSError:
        return [], []
    # The sockets in state 0A (LISTEN): connections come and go without a report. Each is told
    # apart by its address and inode: its line number and accept queue change without it.
    found = [line for line in lines[1:] if line.split()[3:4] == [b'0A']]
    return lines[:1] + found, [line.split()[1] + line.split()[9] for line in found]

def report():
    tables_watch['next'] = time.monotonic() + TICK_S
    (v4, v4_keys), (v6, v6_keys) = listening('/proc/net/tcp'), listening('/proc/net/tcp6')
    keys = (v4_keys, v6_keys)
    if keys != tables_watch['last']:
        tables_watch['last'] = keys
        frame(LISTENERS, 0, b'\n'.join(v4 + v6)[:MAX_PAYLOAD])

def handle(kind, sid, payload):
    if kind in REVERSE_KINDS:
        return reverse_frame(kind, sid, payload)
    if kind == PING:
        return frame(PONG, sid, payload[:64])
    if kind == WATCH:
        tables_watch['on'], tables_watch['last'] = True, None
        return report()
    if kind == OPEN:
        return open_stream(sid, payload)
    s = streams.get(sid)
    if s is None:
        return
    if kind == DATA:
        if s.connecting or len(payload) > s.open:
            return abort(s)
        s.open -= len(payload)
        s.inbuf += payload
        push(s)
    elif kind == GRANT and len(payload) == 4:
        s.credit += int.from_bytes(payload, 'big')
        watch(s)
    elif kind == EOF:
        s.eof_in = True
        push(s)
    elif kind == RESET:
        forget(s, True)
    elif kind == CLOSE:
        forget(s)

# Reverse ports: listeners on this namespace's loopback that the host asked for (LISTEN). Each
# connection accepted there is a stream this agent opens (ACCEPT, ids from AGENT_FIRST up, apart from
# the host's), left unread until the host has connected it on its side (ACCEPT_OK: a stream like any
# other from then on) or could not (ACCEPT_FAIL: the connection is reset).
LISTEN, LISTEN_OK, LISTEN_FAIL, UNLISTEN = '@@MUX_LISTEN@@', '@@MUX_LISTEN_OK@@', '@@MUX_LISTEN_FAIL@@', '@@MUX_UNLISTEN@@'
ACCEPT, ACCEPT_OK, ACCEPT_FAIL = '@@MUX_ACCEPT@@', '@@MUX_ACCEPT_OK@@', '@@MUX_ACCEPT_FAIL@@'
REVERSE_KINDS = (LISTEN, LISTEN_OK, LISTEN_FAIL, UNLISTEN, ACCEPT, ACCEPT_OK, ACCEPT_FAIL)
AGENT_FIRST = '@@MUX_AGENT_STREAM_FIRST@@'
listeners, accepted, reverse_next = {}, {}, [AGENT_FIRST]
# A descriptor kept spare: out of descriptors, a listener's next connection is accepted on it and
# reset at once, not left pending (its listener would wake the loop without end meanwhile).
try:
    spare = [os.open('/dev/null', os.O_RDONLY)]
except OSError:
    spare = [None]

class Listener:
    __slots__ = ('id', 'sock')
    def __init__(self, lid, sock):
        self.id, self.sock = lid, sock

def reverse_listen(lid, payload):
    if lid in listeners or len(payload) < 3:
        return frame(LISTEN_FAIL, lid, b'malformed LISTEN')
    port, address = int.from_bytes(payload[:2], 'big'), payload[2:].decode('ascii', 'replace')
    # The container's loopback only: a reverse port is never offered to the container's network.
    if address not in ('127.0.0.1', '::1'):
        return frame(LISTEN_FAIL, lid, b'EINVAL (not a loopback address)')
    sock = None
    try:
        sock = socket.socket(socket.AF_INET6 if ':' in address else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
    except (OSError, ValueError, OverflowError) as error:
        if sock is not None:
            sock.close()
        return frame(LISTEN_FAIL, lid, reason(error))
    listeners[lid] = listener = Listener(lid, sock)
    sel.register(sock, R, listener)
    frame(LISTEN_OK, lid)

def reverse_accept(listener):
    for _ in range(16):
        try:
            conn, _ = listener.sock.accept()
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE) and spare[0] is not None:
                reverse_shed(listener)
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sid = reverse_next[0]
        reverse_next[0] = sid + 1 if sid < 0xFFFFFFFF else AGENT_FIRST
        accepted[sid] = conn
        frame(ACCEPT, sid, listener.id.to_bytes(4, 'big'))

def reverse_shed(listener):
    os.close(spare[0])
    try:
        conn, _ = listener.sock.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        conn.close()
    except OSError:
        pass
    try:
        spare[0] = os.open('/dev/null', os.O_RDONLY)
    except OSError:
        spare[0] = None

def reverse_frame(kind, sid, payload):
    if kind == LISTEN:
        return reverse_listen(sid, payload)
    if kind == UNLISTEN:
        listener = listeners.pop(sid, None)
        if listener is not None:
            sel.unregister(listener.sock)
            listener.sock.close()
        return
    conn = accepted.pop(sid, None) if kind in (ACCEPT_OK, ACCEPT_FAIL) else None
    if conn is None:
        return
    if kind == ACCEPT_FAIL:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        return conn.close()
    s = streams[sid] = Stream(sid, conn)
    s.connecting = False
    watch(s)

def read_stdin():
    data = os.read(0, 262144)
    if not data:
        os._exit(0)
    rx.extend(data)
    pos = 0
    while len(rx) - pos >= HEADER.size:
        kind, sid, length = HEADER.unpack_from(rx, pos)
        if length > MAX_PAYLOAD:
            sys.stderr.write('mux agent: a %d-byte frame passes the limit\n' % length)
            os._exit(2)
        end = pos + HEADER.size + length
        if end > len(rx):
            break
        handle(kind, sid, bytes(rx[pos + HEADER.size:end]))
        pos = end
    del rx[:pos]

def flush():
    try:
        n = os.write(1, out)
    except BlockingIOError:
        return
    except OSError:
        os._exit(0)
    del out[:n]

os.set_blocking(0, False)
os.set_blocking(1, False)
sel.register(0, R)
stdout_watched, starved = False, False
while True:
    flush()
    if bool(out) != stdout_watched:
        stdout_watched = bool(out)
        (sel.register if stdout_watched else sel.unregister)(*((1, W) if stdout_watched else (1,)))
    # A stream left unread while stdout was backed up is read again once it has drained, however
    # briefly it was backed up (within one turn of the loop, too).
    if starved and len(out) < OUT_HIGH:
        starved = False
        for s in list(streams.values()):
            watch(s)
    timeout = 1 if any(s.connecting for s in streams.values()) else None
    if tables_watch['on']:
        timeout = max(0, min(timeout or TICK_S, tables_watch['next'] - time.monotonic()))
    for key, events in sel.select(timeout):
        if key.fd == 0:
            read_stdin()
        elif key.fd == 1:
            flush()
        elif isinstance(key.data, Listener):
            if listeners.get(key.data.id) is key.data:
                reverse_accept(key.data)
        else:
            s = key.data
            if streams.get(s.id) is not s:
                continue
            if s.connecting:
                connected(s)
                continue
            if events & W:
                push(s)
            if events & R and streams.get(s.id) is s:
                pull(s)
    now = time.monotonic()
    if tables_watch['on'] and now >= tables_watch['next']:
        report()
    for s in [s for s in streams.values() if s.connecting and s.deadline <= now]:
        forget(s)
        frame(OPEN_FAIL, s.id, b'ETIMEDOUT (no answer in time)')
