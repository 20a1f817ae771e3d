import { progress } from './log.js';

type CleanupAction = () => Promise<void> | void;

const actions: { name: string; run: CleanupAction }[] = [];
let running: Promise<void> | undefined;

/** Registers something to undo at the end of the run, whatever happens; undone last-in, first-out. */
export function onCleanup(name: string, run: CleanupAction): void {
  actions.push({ name, run });
}

/** Runs every registered clean-up once (later calls wait for the first); never rejects. */
export function cleanUp(): Promise<void> {
  running ??= (async () => {
    for (const { name, run } of actions.splice(0).reverse()) {
      try {
        await run();
      } catch (error) {
        progress(`clean-up: ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  })();
  return running;
}

/**
 * Cleans up and exits on SIGINT, SIGTERM or SIGHUP, and when the run outlives `deadlineMs`: the
 * containers, forwarders and relays the bench started must never outlive it.
 */
export function guardRun(deadlineMs: number): void {
  const stop = (why: string, code: number) => {
    progress(`${why}: cleaning up`);
    void cleanUp().then(() => process.exit(code));
  };
  process.once('SIGINT', () => stop('interrupted (SIGINT)', 130));
  process.once('SIGTERM', () => stop('terminated (SIGTERM)', 143));
  process.once('SIGHUP', () => stop('hung up (SIGHUP)', 129));
  setTimeout(() => stop(`still running after ${deadlineMs / 60_000} minutes`, 1), deadlineMs).unref();
}
