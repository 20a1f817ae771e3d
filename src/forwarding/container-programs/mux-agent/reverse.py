# The mux agent, part 3 of 5: reverse ports. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `python3 -c`.
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
