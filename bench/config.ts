/** The paths compared side by side, in table order. */
export const PATH_NAMES = [
  'direct',
  'published',
  'exec-per-connection',
  'portpilot-wildcard',
  'portpilot-loopback',
  'portpilot-loopback-exec',
] as const;
export type PathName = (typeof PATH_NAMES)[number];

/** The portpilot cases, whose `ports --json` path is reported. */
export const PORTPILOT_PATHS: readonly PathName[] = [
  'portpilot-wildcard',
  'portpilot-loopback',
  'portpilot-loopback-exec',
];

/** Sequential connections per path for connection setup. */
export const SETUP_CONNECTIONS = 200;
/** Bytes the source server sends per throughput run (1 GiB). */
export const THROUGHPUT_BYTES = 1024 ** 3;
/**
 * Throughput runs per path, taken round by round across the paths so that the machine's drift
 * reaches each path alike; a path's figure is its median run. On two shared cores one run of the same
 * path moved by a third from one bench run to the next.
 */
export const THROUGHPUT_ROUNDS = 3;
/**
 * The paths with an exec per connection: a GiB takes them tens of seconds (one throughput run, not
 * THROUGHPUT_ROUNDS) and a connection ~0.1 s (their connection setup is timed on its own, not
 * interleaved with the others'); their figures are far from every target.
 */
export const SLOW_PATHS: readonly string[] = ['exec-per-connection', 'portpilot-loopback-exec'];
/** A throughput run that takes longer than this is abandoned (and reported unmeasured). */
export const THROUGHPUT_TIMEOUT_MS = 120_000;
/** wrk: run length, open connections and per-request timeout. */
export const WRK_DURATION_S = 5;
export const WRK_CONNECTIONS = 8;
export const WRK_TIMEOUT_S = 10;
/** Detection: trials (half wildcard-, half loopback-bound), how often the host tries to connect, and when to give up. */
export const DETECTION_TRIALS = 20;
export const DETECTION_POLL_MS = 5;
export const DETECTION_TIMEOUT_MS = 5_000;
/** How long each detection server lives after listen() before it exits on its own. */
export const DETECTION_SERVER_LIFETIME_S = 2;
/** Idle cost: ports forwarded (half wildcard-, half loopback-bound), settling time, window. */
export const IDLE_PORTS = 10;
export const IDLE_SETTLE_MS = 5_000;
export const IDLE_WINDOW_MS = 60_000;
/** How long the forwarder keeps a relay agent with no connection through it (its AGENT_IDLE_MS). */
export const AGENT_IDLE_MS = 60_000;
/** Memory per connection: idle connections held open at once, and the settle time before reading RSS. */
export const MEMORY_CONNECTIONS = 100;
export const MEMORY_SETTLE_MS = 1_500;
/**
 * Before the baseline reading, the relaying processes' RSS must hold still (within
 * MEMORY_STEADY_BYTES over MEMORY_STEADY_READINGS readings a second apart), or MEMORY_STEADY_MAX_MS
 * pass: a daemon whose garbage collector is giving memory back would make the connections' share
 * come out too small, even negative.
 */
export const MEMORY_STEADY_READINGS = 4;
export const MEMORY_STEADY_BYTES = 512 * 1024;
export const MEMORY_STEADY_MAX_MS = 30_000;
/** Scale: concurrent echo connections through one forward, bytes each, and the time allowed. */
export const SCALE_CONNECTIONS = 200;
export const SCALE_BYTES = 256 * 1024;
export const SCALE_TIMEOUT_MS = 120_000;
/** One connection attempt for setup or memory gives up after this long. */
export const CONNECT_TIMEOUT_MS = 30_000;
/**
 * The whole run (every section) is abandoned (with clean-up) after this long: about 15 minutes here
 * (local and remote 9.7, rootless and UDP 4.6), and longer while others load the machine.
 */
export const RUN_DEADLINE_MS = 30 * 60_000;

/** Container ports of the servers: wildcard-bound, loopback-bound, idle and detection ones. */
export const SERVER_KINDS = ['greeting', 'source', 'http', 'echo'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];
export const WILDCARD_PORTS: Record<ServerKind, number> = {
  greeting: 46001,
  source: 46002,
  http: 46003,
  echo: 46004,
};
export const LOOPBACK_PORTS: Record<ServerKind, number> = {
  greeting: 46011,
  source: 46012,
  http: 46013,
  echo: 46014,
};
/**
 * Copies of the wildcard-bound HTTP server for the published and portpilot-wildcard paths. Every
 * request of a path's wrk run leaves a connection in TIME_WAIT on the host (wrk closes first); a
 * later path dialling the same container address and port then pays for it in connect(), which
 * searched through ~15,000 of them at a time here and cut that path's rate to a fifth.
 */
export const PUBLISHED_HTTP_PORT = 46005;
export const PORTPILOT_WILDCARD_HTTP_PORT = 46006;
export const IDLE_FIRST_PORT = 46101;
/**
 * Detection trials take a new port each, from here on, and connect to the same number on the host.
 * Below the host's ephemeral range (32768 on): a port there may be held as the source of one of the
 * host's own connections just then, and the forward would take another host port (remapped-in-use),
 * the trial waiting on the wrong one.
 */
export const DETECTION_FIRST_PORT = 26201;

/** The greeting every `greeting` server sends first (connection setup ends at its first byte). */
export const GREETING = 'hello from the portpilot bench\n';
