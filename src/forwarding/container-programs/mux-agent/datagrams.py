# The mux agent, part 4 of 5: datagram sessions. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `python3 -c`.
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
    set_mask(d, (R if room else 0) | (W if d.queue else 0))

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
