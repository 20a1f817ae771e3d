import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { CLI, type PortRow } from './cli.js';

/** A port event as `ports --watch --json` prints it. */
export interface WatchedEvent {
  type: 'forwarded' | 'withdrawn' | 'failed';
  at: string;
  containerId: string;
  containerPort: number;
  hostPort: number | null;
  allocation: string | null;
  reason?: string;
}

/** The first line of `ports --watch --json`: it is watching, and this was forwarded then. */
export interface WatchingLine {
  type: 'watching';
  at: string;
  ports: PortRow[];
}

/** A running `ports --watch`, collecting what it prints. */
export interface Watcher {
  /** The watching line (JSON mode; null without --json). */
  readonly watching: WatchingLine | null;
  /** Parsed port events (JSON mode), the watching line not among them. */
  readonly events: WatchedEvent[];
  /** Everything printed on stdout, raw. */
  output(): Buffer;
  stop(): Promise<{ exitCode: number | undefined; stderr: string }>;
}

/** How long `ports --watch` may take to say it is watching. */
const WATCH_READY_TIMEOUT_MS = 30_000;
/** The line `ports --watch` (without --json) prints once it is watching. */
const WATCHING_LINE = / watching for port events /;

/**
 * Starts `ports --watch [--json] ARGS…` and collects its output; resolves once it says it is
 * watching (its first line), from when on it reports every event.
 */
export async function startWatch(
  stateDir: string,
  args: readonly string[],
  options: { json: boolean },
): Promise<Watcher> {
  const child: ResultPromise = execa(
    process.execPath,
    [CLI, 'ports', '--watch', ...(options.json ? ['--json'] : []), ...args],
    { env: { PORTPILOT_STATE_DIR: stateDir }, reject: false, encoding: 'buffer' },
  );
  const events: WatchedEvent[] = [];
  const chunks: Buffer[] = [];
  let partial = '';
  let watching: WatchingLine | null = null;
  let watchingSeen = false;
  let onWatching: () => void = () => undefined;
  child.stdout?.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const parsed = options.json ? (JSON.parse(line) as WatchedEvent | WatchingLine) : null;
      if (!watchingSeen && (parsed ? parsed.type === 'watching' : WATCHING_LINE.test(line))) {
        watchingSeen = true;
        if (parsed?.type === 'watching') watching = parsed;
        onWatching();
      } else if (parsed && parsed.type !== 'watching') {
        events.push(parsed);
      }
    }
  });
  const stop = async () => {
    child.kill('SIGINT');
    const result = await child;
    return { exitCode: result.exitCode, stderr: String(result.stderr) };
  };
  const ready = new Promise<void>((resolve) => (onWatching = resolve));
  const waited = new AbortController();
  const timeout = sleep(WATCH_READY_TIMEOUT_MS, 'timeout' as const, { signal: waited.signal }).catch(
    () => undefined,
  );
  const outcome = await Promise.race([ready, timeout, child.then(() => 'exited' as const)]);
  waited.abort();
  if (outcome !== undefined) {
    const { stderr } = await stop();
    const why = outcome === 'exited' ? 'exited' : `said nothing for ${WATCH_READY_TIMEOUT_MS} ms`;
    throw new Error(
      `ports --watch ${why} before it was watching: ${Buffer.concat(chunks).toString()}${stderr}`,
    );
  }
  return { watching, events, output: () => Buffer.concat(chunks), stop };
}
