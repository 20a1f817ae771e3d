import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { execa } from 'execa';
import { CLI, type CliRun, type PortRow, type UpLine } from '../../support/cli.js';
import type { WatchedEvent } from '../../support/port-watch.js';
import { DOCKER_COMMAND, isListeningInContainer, waitFor } from '../../support/containers.js';

/** Runs `portpilot ARGS…` with a state dir and extra environment (DOCKER_HOST, limits); never rejects. */
export async function runCliWith(
  stateDir: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CliRun> {
  const result = await execa(process.execPath, [CLI, ...args], {
    reject: false,
    env: { PORTPILOT_STATE_DIR: stateDir, ...env },
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** `up ARGS…`: its one stdout line parsed, with the run. */
export async function upWith(
  stateDir: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<{ run: CliRun; line: UpLine }> {
  const run = await runCliWith(stateDir, ['up', ...args], env);
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`up printed ${lines.length} lines:\n${run.stdout}\n${run.stderr}`);
  return { run, line: JSON.parse(lines[0] ?? '') as UpLine };
}

/** `up --container-id ID --auto-forward ARGS…`, which must succeed; resolves to the forwarder pid. */
export async function forwardContainer(
  stateDir: string,
  containerId: string,
  args: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<number> {
  const { run, line } = await upWith(
    stateDir,
    ['--container-id', containerId, '--auto-forward', ...args],
    env,
  );
  if (line.outcome !== 'success' || !line.forwarder) {
    throw new Error(`up failed: ${run.stdout}\n${run.stderr}`);
  }
  return line.forwarder.pid;
}

/** `ports --json` rows of one container (throws when ports fails). */
export async function rowsOf(
  stateDir: string,
  containerId: string,
  env: Readonly<Record<string, string>> = {},
): Promise<PortRow[]> {
  const run = await runCliWith(stateDir, ['ports', '--json'], env);
  if (run.exitCode !== 0) throw new Error(`ports failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as PortRow[]).filter((row) => row.containerId === containerId);
}

/** Waits until `ports` shows exactly these container ports for the container; resolves to the rows. */
export function waitForRows(
  stateDir: string,
  containerId: string,
  containerPorts: readonly number[],
  timeoutMs = 8_000,
  env: Readonly<Record<string, string>> = {},
): Promise<PortRow[]> {
  const wanted = [...containerPorts].sort((a, b) => a - b).join(',');
  return waitFor(
    async () => {
      const rows = await rowsOf(stateDir, containerId, env);
      const have = rows
        .map((row) => row.containerPort)
        .sort((a, b) => a - b)
        .join(',');
      return have === wanted ? rows : null;
    },
    timeoutMs,
    `ports to show container ports [${wanted}]`,
  );
}

/** The open file descriptors of a process, by number, with what each points at. */
export function openFds(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return fds;
}

/** The pids whose parent is `pid` (living or zombie). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}

/** User plus system CPU time of a live process, in clock ticks (1/100 s). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The processes inside a container whose command line matches, as `docker top` sees them. */
export async function containerProcesses(containerId: string, pattern: RegExp): Promise<string[]> {
  const { stdout } = await execa(DOCKER_COMMAND, ['top', containerId, '-eo', 'pid,args']);
  return stdout
    .split('\n')
    .slice(1)
    .filter((line) => pattern.test(line));
}

/** The host's listening TCP sockets on `port`, as local addresses from /proc/net/tcp{,6}. */
export function hostListenAddresses(port: number): string[] {
  const wanted = port.toString(16).toUpperCase().padStart(4, '0');
  const addresses: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [address, hexPort] = (fields[1] ?? '').split(':');
      if (hexPort !== wanted || fields[3] !== '0A' || !address) continue;
      addresses.push(v6 ? decodeV6(address) : decodeV4(address));
    }
  }
  return addresses;
}

function decodeV4(hex: string): string {
  const bytes = Buffer.from(hex, 'hex').reverse();
  return [...bytes].join('.');
}

function decodeV6(hex: string): string {
  // Four little-endian 32-bit words.
  const words = [0, 1, 2, 3].map((i) => Buffer.from(hex.slice(i * 8, i * 8 + 8), 'hex').reverse());
  const bytes = Buffer.concat(words);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser writes an IPv6 address in its canonical, compressed form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export { startWatch, type WatchedEvent, type Watcher } from '../../support/port-watch.js';

/** Opens a TCP connection to 127.0.0.1:port and resolves once connected. */
export function openConnection(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** An open client connection, watched from the start: what it received and when it ended. */
export interface TrackedConnection {
  readonly socket: Socket;
  received(): number;
  /** When the peer ended or reset it (Date.now()), or null while it is open. */
  endedAt(): number | null;
  /** Resolves once the peer has ended or reset it; rejects after timeoutMs. */
  ended(timeoutMs: number): Promise<void>;
}

/** Connects to 127.0.0.1:port and tracks the connection; resolves once connected. */
export async function trackConnection(port: number, host = '127.0.0.1'): Promise<TrackedConnection> {
  const socket = await openConnection(port, host);
  let received = 0;
  let endedAt: number | null = null;
  const waiters = new Set<() => void>();
  const end = () => {
    endedAt ??= Date.now();
    for (const waiter of waiters) waiter();
  };
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', end);
  // With allowHalfOpen, the peer's FIN ends the socket without closing it: either counts.
  socket.once('end', end);
  socket.once('close', end);
  return {
    socket,
    received: () => received,
    endedAt: () => endedAt,
    ended(timeoutMs) {
      socket.resume();
      if (endedAt !== null) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(done);
          reject(new Error(`the connection to port ${port} was still open after ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.add(done);
      });
    },
  };
}

/** Writes `data` and reads exactly as many bytes back (an echo round trip) on an open socket. */
export function roundTrip(socket: Socket, data: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`echo of ${data.length} bytes: got ${received} in ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= data.length) {
        cleanup();
        resolve(Buffer.concat(chunks));
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`closed after ${received} of ${data.length} echoed bytes`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(data);
  });
}

/** The port events a forwarder wrote to its log file(s), oldest first. */
export function loggedEvents(logFiles: readonly string[]): WatchedEvent[] {
  const events: WatchedEvent[] = [];
  for (const file of logFiles) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('"portEvent"')) continue;
      try {
        events.push((JSON.parse(line) as { portEvent: WatchedEvent }).portEvent);
      } catch {
        // A torn last line.
      }
    }
  }
  return events;
}

/** Runs a shell command on the host as root; rejects on failure with its output. */
export async function sh(command: string): Promise<string> {
  const result = await execa('sh', ['-c', command], { reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`'${command}' failed (${result.exitCode}): ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}

/** What a fault server does with each connection (see startFaultServer). */
export type FaultServerMode = 'endless' | 'reset-after-read' | 'echo';

// argv: MODE HOST PORT…. endless: sends bytes until the client goes; reset-after-read: reads what
// comes first, then resets (SO_LINGER 0); echo: echoes. Every PORT given is listened on.
const FAULT_SERVER = `
import socket, struct, sys, threading
mode, host, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
def serve(conn):
    try:
        if mode == 'endless':
            block = b'portpilot' * 7282
            while True:
                conn.sendall(block)
        elif mode == 'reset-after-read':
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        else:
            while True:
                data = conn.recv(65536)
                if not data:
                    conn.shutdown(socket.SHUT_WR)
                    return
                conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()
def accept(server):
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
for port in ports:
    server = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(256)
    threading.Thread(target=accept, args=(server,), daemon=True).start()
threading.Event().wait()
`;

/** Starts a python3 fault server in the container on every port given; resolves once all listen. */
export async function startFaultServer(
  containerId: string,
  mode: FaultServerMode,
  address: '127.0.0.1' | '0.0.0.0',
  ports: readonly number[],
): Promise<void> {
  await execa(DOCKER_COMMAND, [
    'exec',
    '--detach',
    containerId,
    'python3',
    '-c',
    FAULT_SERVER,
    mode,
    address,
    ...ports.map(String),
  ]);
  for (const port of ports) {
    await waitFor(
      () => isListeningInContainer(containerId, address, port),
      15_000,
      `a ${mode} server on ${address}:${port}`,
    );
  }
}
