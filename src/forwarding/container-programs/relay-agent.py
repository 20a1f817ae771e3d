# portpilot relay agent (python3): see relay-agent-script.ts for the protocol.
# Each @@NAME@@ in single quotes is replaced, quotes and all, by relay-agent-script.ts's constant NAME.
import os, selectors, socket, sys, threading, time
from _operator import _compare_digest as compare_digest  # hmac's, without its OpenSSL (4 MB)
listen_address, allowed_peer = sys.argv[1], sys.argv[2]
MAGIC, HEADER_BYTES, TOKEN_END = b'@@AGENT_MAGIC@@', '@@AGENT_HEADER_BYTES@@', 4 + '@@AGENT_TOKEN_BYTES@@'
V4_MAPPED = bytes(10) + b'\xff\xff'
F_SETPIPE_SZ, F_GETPIPE_SZ, IP_BIND_ADDRESS_NO_PORT = 1031, 1032, 24
HEADER_TIMEOUT_S, MAX_PENDING = '@@AGENT_HEADER_TIMEOUT_S@@', '@@AGENT_MAX_PENDING_HEADERS@@'
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
        if grow and moved >= '@@AGENT_PIPE_BYTES@@':
            grow = False
            try:
                size = fcntl.fcntl(w, F_SETPIPE_SZ, '@@AGENT_PIPE_BYTES@@')
            except OSError:
                pass

def copy_all(src, dst):
    view = memoryview(bytearray('@@AGENT_COPY_BUFFER_BYTES@@'))
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
            target.settimeout('@@AGENT_TARGET_CONNECT_TIMEOUT_S@@')
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
