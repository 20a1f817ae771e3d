/**
 * Connection setup: up to this many sequential connections per case (after one warm-up), but no
 * more than fit in REMOTE_SETUP_BUDGET_MS once REMOTE_SETUP_MIN_CONNECTIONS are timed: a `docker
 * exec` over SSH took 5 to 9 s a connection on the shared two cores here.
 */
export const REMOTE_SETUP_CONNECTIONS = 50;
export const REMOTE_SETUP_MIN_CONNECTIONS = 3;
export const REMOTE_SETUP_BUDGET_MS = 10_000;
/**
 * The 200 concurrent echoes are left out for a case whose setup p50 is above this: an exec per
 * connection, 200 of them at once over SSH, would take minutes (its figure is in the setup column).
 */
export const REMOTE_SCALE_MAX_SETUP_MS = 500;
/** Bytes per throughput run (128 MiB): the exec baseline over SSH moved 6 MB/s here. */
export const REMOTE_THROUGHPUT_BYTES = 128 * 1024 ** 2;
/** Throughput runs per case; a case whose first run took longer than REMOTE_SLOW_RUN_S runs once. */
export const REMOTE_THROUGHPUT_ROUNDS = 3;
export const REMOTE_SLOW_RUN_S = 3;
/** Idle window: every remote forwarder idles at once, each in a pid namespace of its own. */
export const REMOTE_IDLE_SETTLE_MS = 5_000;
export const REMOTE_IDLE_WINDOW_MS = 30_000;
/**
 * Detection trials against the auto forwarder (bound to 0.0.0.0 and 127.0.0.1 in turn), and their
 * first port (below the ephemeral range, as DETECTION_FIRST_PORT).
 */
export const REMOTE_DETECTION_TRIALS = 4;
export const REMOTE_DETECTION_FIRST_PORT = 26301;
/**
 * Each trial's server lives this long, and the host waits as long for its port: listeners read
 * through `docker exec` over SSH every 2 s are seen later than the local ones (2 s and 5 s there).
 */
export const REMOTE_DETECTION_TRIAL = { lifetimeS: 12, timeoutMs: 12_000 } as const;

/** The project's targets for the remote and rootless ways into a container. */
export const REMOTE_TARGETS = {
  /** Connection setup p50 at least this many times faster than exec per connection. */
  setupSpeedup: 20,
  /** Throughput at least this share of the `ssh -L` tunnel's. */
  throughputShare: 0.8,
  /** An idle forwarder's CPU s/min at most this, and no process spawned per scan. */
  idleCpuSPerMin: 0.6,
} as const;

/** The names of the two baselines of the remote section. */
export const REMOTE_EXEC_BASELINE = 'remote-exec-per-connection';
export const REMOTE_SSH_TUNNEL = 'remote-ssh-L';
