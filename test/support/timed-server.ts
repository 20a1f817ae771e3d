import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { DOCKER_COMMAND } from './containers.js';

// argv: HOST PORT. Listens, prints "listened <ms>" the moment listen() returns, echoes what
// connections send; on a line on stdin closes the listener and prints "closed <ms>", then exits.
// One thread accepts and watches stdin: a listener closed while another thread sits in accept()
// would stay listening until that accept() returned.
const TIMED_SERVER = `
import selectors, socket, sys, threading, time
host, port = sys.argv[1], int(sys.argv[2])
server = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(64)
print('listened', time.time_ns() // 1000000, flush=True)

def echo(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)

events = selectors.DefaultSelector()
events.register(server, selectors.EVENT_READ)
events.register(sys.stdin, selectors.EVENT_READ)
while True:
    ready = [key.fileobj for key, _ in events.select()]
    if sys.stdin in ready:
        server.close()
        print('closed', time.time_ns() // 1000000, flush=True)
        break
    conn, _ = server.accept()
    threading.Thread(target=echo, args=(conn,), daemon=True).start()
`;

/**
 * An echo server in a container (python3) that tells when it listened and when it closed its
 * listener, read from the clock the container shares with the host: the times the contract's
 * detection and withdrawal limits count from.
 */
export interface TimedServer {
  /** Resolves to Date.now() as the container saw it right after listen() returned. */
  readonly listened: Promise<number>;
  /** Closes the listener (the server then exits); resolves to the time right after close() returned. */
  close(): Promise<number>;
}

/**
 * Starts a TimedServer on address:port in the container; it is listening once `listened` resolves.
 * `engine` is the argv that runs the container's CLI (another engine's, or as another user).
 */
export function startTimedServer(
  containerId: string,
  port: number,
  address = '127.0.0.1',
  engine: readonly string[] = [DOCKER_COMMAND],
): TimedServer {
  return startTimedServerWith([...engine, 'exec', '-i', containerId], port, address);
}

/**
 * The same server run by `runner` (an argv its `python3 …` is appended to): a container's exec, or
 * the host's python3 in the container's network namespace (`nsenter --target PID --net`).
 */
export function startTimedServerWith(
  runner: readonly string[],
  port: number,
  address = '127.0.0.1',
): TimedServer {
  const [file = DOCKER_COMMAND, ...prefix] = runner;
  const child = execa(file, [...prefix, 'python3', '-c', TIMED_SERVER, address, String(port)], {
    reject: false,
    stdin: 'pipe',
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const split = (partial + chunk.toString('utf8')).split('\n');
    partial = split.pop() ?? '';
    lines.push(...split);
    for (const waiter of waiters) waiter();
  });
  const timeOf = (word: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const line = lines.find((text) => text.startsWith(`${word} `));
        if (!line) return;
        waiters.delete(check);
        resolve(Number(line.slice(word.length + 1)));
      };
      waiters.add(check);
      check();
      void child.then((result) => {
        if (waiters.delete(check)) {
          reject(
            new Error(`the timed server on ${address}:${port} exited before "${word}": ${result.stderr}`),
          );
        }
      });
    });
  const listened = timeOf('listened');
  listened.catch(() => undefined); // a caller that never awaits it fails on its own terms
  let closing: Promise<number> | undefined;
  return {
    listened,
    close() {
      closing ??= (async () => {
        await listened;
        child.stdin?.write('close\n');
        const closedAt = await timeOf('closed');
        await child;
        return closedAt;
      })();
      return closing;
    },
  };
}

/**
 * Polls `probe` every `intervalMs` until it holds; resolves to Date.now() right after the first
 * probe that held (so at or after the moment the condition came true). Rejects after timeoutMs.
 */
export async function timeWhen(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  description: string,
  intervalMs = 10,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return Date.now();
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await sleep(intervalMs);
  }
}

// Loopback addresses as /proc/net/tcp{,6} spell them.
const LOOPBACK = { tcp: '0100007F', tcp6: '00000000000000000000000001000000' } as const;
const TCP_LISTEN_STATE = '0A';

/**
 * Whether anything on the host listens on 127.0.0.1:port or [::1]:port, read from the host's
 * /proc/net/tcp{,6}: unlike a connection attempt, it sends nothing through a forward, so watching a
 * port this way does not move the container's socket counters and hasten the forwarder's next read.
 */
export function hostLoopbackListens(port: number): boolean {
  const wanted = port.toString(16).toUpperCase().padStart(4, '0');
  return (['tcp', 'tcp6'] as const).some((file) => {
    let text = '';
    try {
      text = readFileSync(`/proc/net/${file}`, 'utf8');
    } catch {
      return false; // no IPv6 on this host
    }
    return text.split('\n').some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === `${LOOPBACK[file]}:${wanted}` && fields[3] === TCP_LISTEN_STATE;
    });
  });
}
