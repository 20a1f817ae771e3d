# portpilot mux agent (python3), part 1 of 5: streams; the parts are joined in order (see
# mux-agent-argv.ts) into one `python3 -c`. The protocol: relay/mux/mux-codec.ts.
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
    set_mask(s, mask)

def set_mask(o, mask):
    # A stream's or datagram session's socket in the selector, for the events it wants now (none: out).
    if mask != o.mask:
        if o.mask == 0:
            sel.register(o.sock, mask, o)
        elif mask == 0:
            sel.unregister(o.sock)
        else:
            sel.modify(o.sock, mask, o)
        o.mask = mask

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
