/** The entrypoint that replaces the image's command when overrideCommand is true. */
export const KEEP_ALIVE_ENTRYPOINT = '/bin/sh';

/**
 * What that shell runs, as the Dev Containers CLI does: say so, then idle. The sleep runs in the
 * background and the shell `wait`s for it, because a shell runs its SIGTERM trap only between commands:
 * a foreground `sleep` would hold `docker stop` up for its whole grace period.
 */
export const KEEP_ALIVE_SCRIPT = [
  'echo Container started',
  'trap "exit 0" 15',
  'while sleep 1 & wait $!; do :; done',
].join('\n');

/** The arguments after the entrypoint: `-c SCRIPT -`, the `-` naming $0 so any CMD lands in $@. */
export const KEEP_ALIVE_ARGS: readonly string[] = ['-c', KEEP_ALIVE_SCRIPT, '-'];
