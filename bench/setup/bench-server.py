# The bench's servers, run in the containers with `docker exec -d python3 /tmp/bench-server.py KIND ...`.
#
#   greeting HOST PORT GREETING  sends GREETING on accept, then reads until EOF and closes
#   echo     HOST PORT           echoes every byte until EOF, then closes
#   source   HOST PORT BYTES     sends BYTES zero bytes, half-closes, drains, closes
#   http     HOST PORT           answers every request with a 13-byte 200 and closes (asyncio)
#   idle     HOST:PORT,...       listens on every address and never accepts (no CPU at all)
#   detect   HOST PORT FILE LIFE listens, writes CLOCK_MONOTONIC ns right after listen() to FILE,
#                                exits after LIFE seconds
import asyncio
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


def listen(host, port):
    server = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def serve_threads(server, handle):
    def run(conn):
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, _ = server.accept()
        threading.Thread(target=run, args=(conn,), daemon=True).start()


def greeting(conn, text):
    conn.sendall(text.encode())
    drain(conn)


def echo(conn):
    drain(conn, conn.sendall)


def source(conn, size):
    zeros = bytes(CHUNK)
    left = size
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


async def serve_http(server):
    loop = asyncio.get_running_loop()
    await loop.create_server(Http, sock=server)
    await asyncio.Event().wait()


def main(kind, args):
    if kind == 'idle':
        servers = [listen(*address.rsplit(':', 1)) for address in args[0].split(',')]
        while servers:
            signal.pause()
        return
    server = listen(args[0], args[1])
    if kind == 'detect':
        listened_ns = time.monotonic_ns()
        with open(args[2], 'w') as out:
            out.write(str(listened_ns))
        time.sleep(float(args[3]))
    elif kind == 'greeting':
        serve_threads(server, lambda conn: greeting(conn, args[2]))
    elif kind == 'echo':
        serve_threads(server, echo)
    elif kind == 'source':
        serve_threads(server, lambda conn: source(conn, int(args[2])))
    elif kind == 'http':
        asyncio.run(serve_http(server))
    else:
        sys.exit(f'unknown server kind {kind}')


main(sys.argv[1], sys.argv[2:])
