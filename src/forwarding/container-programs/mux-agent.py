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
TICK_S = '@@MUX_LISTENER_TICK_MS@@' / 1000
IP_BIND_ADDRESS_NO_PORT, R, W = 24, selectors.EVENT_READ, selectors.EVENT_WRITE
sel, streams, out, rx = selectors.DefaultSelector(), {}, bytearray(MAGIC), bytearray()

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

# Reported as changes (WATCH_CHANGES): the serving sockets of every table by key (table, local
# address, inode) and their owners. The tables cost the kernel ~1.6 ms each to print whatever they
# hold (it walks every bucket), sockstat's per-namespace counters some microseconds: the tables are
# read when a counter moved, and at least every FULL_READ_S for a listen() a close() masked.
CHANGES, FULL, CHANGED = '@@MUX_WATCH_LISTENER_CHANGES@@', '@@MUX_LISTENERS_FULL@@', '@@MUX_LISTENERS_CHANGED@@'
FULL_READ_S, REPORT_BYTES = '@@MUX_LISTENER_FULL_READ_MS@@' / 1000, '@@MUX_REPORT_FRAME_BYTES@@'
CMDLINE_BYTES, REPORT_HEADER = '@@MUX_CMDLINE_READ_MAX_BYTES@@', struct.Struct('>IBI')
SERVING = ((b'tcp', '/proc/net/tcp'), (b'tcp6', '/proc/net/tcp6'), (b'udp', '/proc/net/udp'), (b'udp6', '/proc/net/udp6'))
changes_watch = {'on': False, 'next': 0.0, 'read_at': 0.0, 'counts': None, 'seq': 0, 'sockets': {},
                 'owners': {}, 'range': b'32768 60999'}

def watch_changes():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range', 'rb') as f:
            low, high = [int(word) for word in f.read().split()]
        changes_watch['range'] = b'%d %d' % (low, high)
    except (OSError, ValueError):
        pass
    changes_watch['on'] = True
    report_changes(True)

def inuse_counts():
    counts = []
    for path in ('/proc/net/sockstat', '/proc/net/sockstat6'):
        try:
            with open(path, 'rb') as f:
                counts += [line.split()[2] for line in f.read().split(b'\n') if line[:4] in (b'TCP:', b'UDP:', b'TCP6', b'UDP6')]
        except (OSError, IndexError):
            pass
    return counts

def serving_sockets():
    # TCP sockets in LISTEN; UDP ones unconnected (no remote address) off the ephemeral range, which a
    # client's unbound socket gets its port from: a resolver's sends are no change.
    low, high = [int(word) for word in changes_watch['range'].split()]
    found = {}
    for tag, path in SERVING:
        try:
            with open(path, 'rb') as table:
                lines = table.read().split(b'\n')[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            if tag.startswith(b'tcp'):
                if f[3] != b'0A':
                    continue
            elif f[3] != b'07' or f[2].strip(b'0:') or low <= int(f[1].split(b':')[-1], 16) <= high:
                continue
            found[tag + b' ' + f[1] + b' ' + f[9]] = line.strip()
    return found

def find_owners(inodes):
    # Lowest pid first, as on the host: a socket shared after fork() is credited to its parent.
    owners, wanted = {}, set(inodes)
    try:
        pids = sorted(int(name) for name in os.listdir(b'/proc') if name.isdigit())
    except OSError:
        return owners
    for pid in pids:
        if not wanted:
            break
        base = b'/proc/%d/fd/' % pid
        try:
            fds = os.listdir(base)
        except OSError:
            continue
        hits = []
        for fd in fds:
            try:
                link = os.readlink(base + fd)
            except OSError:
                continue
            if link[:8] == b'socket:[' and link[8:-1] in wanted:
                hits.append(link[8:-1])
        if not hits:
            continue
        try:
            with open(b'/proc/%d/cmdline' % pid, 'rb') as f:
                cmdline = f.read(CMDLINE_BYTES)
        except OSError:
            cmdline = b''
        for inode in hits:
            wanted.discard(inode)
            owners[inode] = b'%d %s' % (pid, cmdline.hex().encode())
    return owners

def report_changes(full=False):
    w = changes_watch
    now = time.monotonic()
    w['next'] = now + TICK_S
    counts = inuse_counts()
    if not full and counts == w['counts'] and now - w['read_at'] < FULL_READ_S:
        return
    w['counts'], w['read_at'] = counts, now
    sockets, old = serving_sockets(), w['sockets']
    if not full and sockets.keys() == old.keys():
        return
    added = [key for key in sockets if full or key not in old]
    inodes = {key.split()[2] for key in sockets}
    fresh = {key.split()[2] for key in added} - set(w['owners'])
    owners = {inode: owner for inode, owner in w['owners'].items() if inode in inodes}
    owners.update(find_owners(fresh) if fresh else {})
    w['sockets'], w['owners'] = sockets, owners
    records = [b'r ' + w['range']] if full else [b'- ' + key for key in old if key not in sockets]
    for key in added:
        inode = key.split()[2]
        records.append(b'+ ' + key.split()[0] + b' ' + sockets[key])
        if inode in owners and (full or inode in fresh):
            records.append(b'o ' + inode + b' ' + owners[inode])
    send_report(FULL if full else CHANGED, records, len(sockets))

def send_report(kind, records, count):
    # Each frame: sequence number, whether more of this report follows, the sockets in all after it.
    chunks, size = [[]], 0
    for record in records:
        if size + len(record) > REPORT_BYTES and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(record)
        size += len(record) + 1
    for index, chunk in enumerate(chunks):
        changes_watch['seq'] = (changes_watch['seq'] + 1) & 0xffffffff
        more = 1 if index < len(chunks) - 1 else 0
        header = REPORT_HEADER.pack(changes_watch['seq'], more, count)
        frame(kind if index == 0 else CHANGED, 0, header + b'\n'.join(chunk))

def handle(kind, sid, payload):
    if kind in DGRAM_KINDS:
        return dgram_handle(kind, sid, payload)
    if kind in REVERSE_KINDS:
        return reverse_frame(kind, sid, payload)
    if kind == PING:
        return frame(PONG, sid, payload[:64])
    if kind == CHANGES:
        return watch_changes()
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

# Datagram sessions (DGRAM_* frames): one UDP socket per host-side client, bound to the container's
# own address and connected to its server, so the server sees each client as a peer of its own and
# only that server's replies are read. Each datagram is one frame, both ways; one the socket cannot
# take now waits in a small queue, and past it is dropped and counted (UDP may drop, never merge).
DGRAM_OPEN, DGRAM_OPEN_FAIL, DATAGRAM = '@@MUX_DGRAM_OPEN@@', '@@MUX_DGRAM_OPEN_FAIL@@', '@@MUX_DATAGRAM@@'
DGRAM_CLOSE, DGRAM_DROPPED = '@@MUX_DGRAM_CLOSE@@', '@@MUX_DGRAM_DROPPED@@'
DGRAM_QUEUE, DGRAM_QUEUE_BYTES = '@@MUX_DATAGRAM_QUEUE@@', '@@MUX_DATAGRAM_QUEUE_BYTES@@'
DGRAM_BUFFER = '@@MUX_DATAGRAM_BUFFER_BYTES@@'
DGRAM_KINDS = (DGRAM_OPEN, DATAGRAM, DGRAM_CLOSE)
dgrams, dgram_dropping = {}, set()

class Dgram:
    __slots__ = ('id', 'sock', 'queue', 'queued', 'dropped', 'mask')
    def __init__(self, sid, sock):
        self.id, self.sock, self.queue, self.queued, self.dropped, self.mask = sid, sock, [], 0, 0, 0

def dgram_watch(d):
    global starved
    room = len(out) < OUT_HIGH
    starved = starved or not room
    mask = (R if room else 0) | (W if d.queue else 0)
    if mask != d.mask:
        if d.mask == 0:
            sel.register(d.sock, mask, d)
        elif mask == 0:
            sel.unregister(d.sock)
        else:
            sel.modify(d.sock, mask, d)
        d.mask = mask

def dgram_end(d, why=None):
    del dgrams[d.id]
    dgram_dropping.discard(d)
    if d.mask:
        sel.unregister(d.sock)
    d.sock.close()
    if why is not None:
        frame(DGRAM_CLOSE, d.id, why)

def dgram_drop(d):
    d.dropped += 1
    dgram_dropping.add(d)

def dgram_open(sid, payload):
    if sid in dgrams or sid in streams or len(payload) < 3:
        return frame(DGRAM_OPEN_FAIL, sid, b'malformed DGRAM_OPEN')
    port, address = int.from_bytes(payload[:2], 'big'), payload[2:].decode('ascii', 'replace')
    sock = None
    try:
        sock = socket.socket(socket.AF_INET6 if ':' in address else socket.AF_INET, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, DGRAM_BUFFER)
            except OSError:
                pass
        # Binding first fails for any address not the container's own: never a relay to elsewhere.
        sock.bind((address, 0))
        sock.connect((address, port))
        sock.setblocking(False)
    except (OSError, ValueError, OverflowError) as error:
        if sock is not None:
            sock.close()
        return frame(DGRAM_OPEN_FAIL, sid, reason(error))
    d = dgrams[sid] = Dgram(sid, sock)
    dgram_watch(d)

def dgram_send(d):
    while d.queue:
        data = d.queue[0]
        try:
            d.sock.send(data)
        except BlockingIOError:
            break
        except ConnectionRefusedError:
            # An earlier datagram found no server: the error is told once, and this one was not sent.
            try:
                d.sock.send(data)
            except BlockingIOError:
                break
            except OSError:
                dgram_drop(d)
        except OSError:
            dgram_drop(d)
        d.queue.pop(0)
        d.queued -= len(data)
    dgram_watch(d)

def dgram_pull(d):
    for _ in range(16):
        if len(out) >= OUT_HIGH:
            break
        try:
            data = d.sock.recv(65536)
        except BlockingIOError:
            break
        except ConnectionRefusedError:
            continue
        except OSError as error:
            return dgram_end(d, reason(error))
        frame(DATAGRAM, d.id, data)
    dgram_watch(d)

def dgram_events(d, events):
    if dgrams.get(d.id) is not d:
        return
    if events & W:
        dgram_send(d)
    if events & R and dgrams.get(d.id) is d:
        dgram_pull(d)

def dgram_handle(kind, sid, payload):
    if kind == DGRAM_OPEN:
        return dgram_open(sid, payload)
    d = dgrams.get(sid)
    if d is None:
        return
    if kind == DGRAM_CLOSE:
        return dgram_end(d)
    if d.queue and (len(d.queue) >= DGRAM_QUEUE or d.queued + len(payload) > DGRAM_QUEUE_BYTES):
        return dgram_drop(d)
    d.queue.append(payload)
    d.queued += len(payload)
    dgram_send(d)

def dgram_report_drops():
    for d in dgram_dropping:
        frame(DGRAM_DROPPED, d.id, min(d.dropped, 0xffffffff).to_bytes(4, 'big'))
        d.dropped = 0
    dgram_dropping.clear()

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
        for d in list(dgrams.values()):
            dgram_watch(d)
    timeout = 1 if any(s.connecting for s in streams.values()) else None
    if changes_watch['on']:
        timeout = max(0, min(TICK_S if timeout is None else timeout, changes_watch['next'] - time.monotonic()))
    for key, events in sel.select(timeout):
        if key.fd == 0:
            read_stdin()
        elif key.fd == 1:
            flush()
        elif isinstance(key.data, Dgram):
            dgram_events(key.data, events)
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
    if dgram_dropping:
        dgram_report_drops()
    now = time.monotonic()
    if changes_watch['on'] and now >= changes_watch['next']:
        report_changes()
    for s in [s for s in streams.values() if s.connecting and s.deadline <= now]:
        forget(s)
        frame(OPEN_FAIL, s.id, b'ETIMEDOUT (no answer in time)')
