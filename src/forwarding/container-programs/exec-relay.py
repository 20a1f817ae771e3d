# portpilot exec relay (python3): argv HOST PORT DRAIN_S; see relay-program.ts.
import os, socket, sys, threading, time
host, port, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def fail(error):
    sys.stderr.write('relay to %s port %d: %s\n' % (host, port, error))
    sys.stderr.flush()
    os._exit(1)
try:
    conn = socket.create_connection((host, port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
except OSError as error:
    fail(error)
last = [time.monotonic()]
def downstream():
    try:
        while True:
            data = conn.recv('@@SCRIPT_BUFFER_BYTES@@')
            if not data:
                os._exit(0)
            last[0] = time.monotonic()
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]
    except OSError as error:
        fail(error)
threading.Thread(target=downstream, daemon=True).start()
try:
    while True:
        data = os.read(0, '@@SCRIPT_BUFFER_BYTES@@')
        if not data:
            break
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
except OSError:
    pass
last[0] = time.monotonic()
while True:
    wait = last[0] + idle - time.monotonic()
    if wait <= 0:
        os._exit(0)
    time.sleep(wait)
