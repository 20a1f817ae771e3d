# The servers the tests and the bench start in containers: `python3 -c "$(cat test-server.py)" ...`
# (test/support/containers.ts) or `python3 /tmp/test-server.py ...` (bench/setup/containers.ts).
#
#   [--v6only] KIND HOST PORT ...  HOST '::' listens dual-stack unless --v6only (as nginx's
#                                  `listen [::]:80;`): /proc/net/tcp6 shows the two alike
#   greeting    HOST PORT TEXT     sends TEXT on accept, then echoes every byte until EOF, closes
#   echo        HOST PORT          echoes every byte until EOF, then closes
#   session     HOST PORT          a debugger's way (gdbserver, JDWP server=y): accepts one
#                                  connection, stops listening, echoes on it until EOF, exits
#   sink-sha256 HOST PORT          reads to EOF, answers the sha256 hex and a newline, closes
#   source      HOST PORT BYTES [FILE]  sends BYTES bytes (FILE's, else zeros), half-closes,
#                                  drains, closes
#   http        HOST PORT          answers every request with a 13-byte 200 and closes (asyncio)
#   files       HOST PORT DIR      serves DIR's files over http (http.server, a thread a request)
#   idle        HOST:PORT,...      listens on every address and never accepts (no CPU at all)
#   detect      HOST PORT FILE LIFE  listens, writes CLOCK_MONOTONIC ns right after listen() to
#                                  FILE, exits after LIFE seconds
import asyncio
import hashlib
import signal
import socket
import sys
import threading
import time

BACKLOG = 1024
CHUNK = 1 << 20
HTTP_RESPONSE = (
    b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n'
    b'Connection: close\r\n\r\nhello, bench\n'
)


def listen(host, port, v6only=False):
    server = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if host == '::':
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    server.bind((host, int(port)))
    server.listen(BACKLOG)
    return server


def drain(conn, sink=None):
    while True:
        chunk = conn.recv(CHUNK)
        if not chunk:
            return
        if sink:
            sink(chunk)


def serve(conn, handle):
    try:
        handle(conn)
    except OSError:
        pass
    finally:
        conn.close()


def serve_threads(server, handle):
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, handle), daemon=True).start()


def greeting(conn, text):
    conn.sendall(text.encode())
    echo(conn)


def echo(conn):
    drain(conn, conn.sendall)


def sink_sha256(conn):
    digest = hashlib.sha256()
    drain(conn, digest.update)
    conn.sendall((digest.hexdigest() + '\n').encode())


def source(conn, size, path):
    if path:
        with open(path, 'rb') as data:
            conn.sendall(data.read(size))
    else:
        zeros, left = bytes(CHUNK), size
        while left > 0:
            conn.sendall(zeros if left >= CHUNK else zeros[:left])
            left -= CHUNK
    # Half-close, then drain: closing with unread input would reset the connection.
    conn.shutdown(socket.SHUT_WR)
    drain(conn)


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b''

    def data_received(self, data):
        self.buffer += data
        if b'\r\n\r\n' in self.buffer:
            self.transport.write(HTTP_RESPONSE)
            self.transport.close()


def serve_files(host, port, directory, v6only):
    import functools, http.server

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ':' in host else socket.AF_INET

        def server_bind(self):
            if host == '::':
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
            super().server_bind()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    Server((host, int(port)), handler).serve_forever()


async def serve_http(server):
    loop = asyncio.get_running_loop()
    await loop.create_server(Http, sock=server)
    await asyncio.Event().wait()


def main(args):
    v6only = args[:1] == ['--v6only']
    kind, args = args[v6only], args[v6only + 1:]
    if kind == 'idle':
        servers = [listen(*address.rsplit(':', 1)) for address in args[0].split(',')]
        while servers:
            signal.pause()
        return
    if kind == 'files':
        return serve_files(args[0], args[1], args[2], v6only)
    server = listen(args[0], args[1], v6only)
    if kind == 'detect':
        listened_ns = time.monotonic_ns()
        with open(args[2], 'w') as out:
            out.write(str(listened_ns))
        time.sleep(float(args[3]))
    elif kind == 'session':
        conn, _ = server.accept()
        server.close()
        serve(conn, echo)
    elif kind == 'greeting':
        serve_threads(server, lambda conn: greeting(conn, args[2]))
    elif kind == 'echo':
        serve_threads(server, echo)
    elif kind == 'sink-sha256':
        serve_threads(server, sink_sha256)
    elif kind == 'source':
        serve_threads(server, lambda conn: source(conn, int(args[2]), args[3] if len(args) > 3 else None))
    elif kind == 'http':
        asyncio.run(serve_http(server))
    else:
        sys.exit(f'unknown server kind {kind}')


main(sys.argv[1:])
