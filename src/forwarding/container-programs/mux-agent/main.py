# The mux agent, part 5 of 5: the host's frames, stdin and stdout, the loop. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `python3 -c`.
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
