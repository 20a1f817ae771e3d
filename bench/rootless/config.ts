/** The user rootless Podman runs as (made by scripts/test-env.sh; scripts/test-images.env names it). */
export const ROOTLESS_USER = process.env.PORTPILOT_ROOTLESS_USER ?? 'portpilot-rootless';
/** The `--relay-path` values of the rootless forwarders: the namespace helper (auto), the mux channel, exec. */
export const ROOTLESS_RELAY_PATHS = ['auto', 'mux', 'exec'] as const;
/** The two baselines: `podman exec` per connection, and Podman's own `podman run -p` (rootlessport). */
export const ROOTLESS_EXEC_BASELINE = 'rootless-exec-per-connection';
export const ROOTLESS_PUBLISHED = 'rootless-published';
/** Connection setup, as the remote section times it: up to this many, fewer once the budget is spent. */
export const ROOTLESS_SETUP = { min: 5, max: 200, budgetMs: 10_000 } as const;
/** Bytes per throughput run (128 MiB), runs per case, and the first-run time past which a case runs once. */
export const ROOTLESS_THROUGHPUT_BYTES = 128 * 1024 ** 2;
export const ROOTLESS_THROUGHPUT_ROUNDS = 3;
export const ROOTLESS_SLOW_RUN_S = 5;
/** Idle: settle, then a CPU window, then a window in which each forwarder's execs are counted (strace). */
export const ROOTLESS_IDLE_SETTLE_MS = 5_000;
export const ROOTLESS_IDLE_WINDOW_MS = 30_000;
export const ROOTLESS_SPAWN_WINDOW_MS = 20_000;
/**
 * Detection trials against the auto forwarder (0.0.0.0 and 127.0.0.1 in turn), from this port on
 * (below the ephemeral range, as DETECTION_FIRST_PORT).
 */
export const ROOTLESS_DETECTION_TRIALS = 10;
export const ROOTLESS_DETECTION_FIRST_PORT = 26401;
