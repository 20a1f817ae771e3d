import type { ChildProcess } from 'node:child_process';
import { isHelperReady } from './helper-protocol.js';

/** How long a started helper has to say it runs in the namespace (nsenter, then node's start-up). */
export const HELPER_START_TIMEOUT_MS = 10_000;
/** After close(), how long the helper has to exit before SIGKILL. */
export const HELPER_EXIT_GRACE_MS = 2_000;

/** Starts one helper process with an IPC channel (see netns-helper.ts); null when it may not run now. */
export type HelperSpawner = () => Promise<ChildProcess | null>;

/** The helper's channel broke before it answered. */
export const LOST = Symbol('lost');

/** A request waiting for the helper's answer. */
export interface Pending {
  resolve: (handle: unknown) => void;
  reject: (error: Error) => void;
  /** A listen or close is answered without a socket. */
  bare?: boolean;
}

/** One running helper process and the requests it has not answered yet. */
export interface Running {
  child: ChildProcess;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  alive: boolean;
  /** Stopped for idleness: its exit is not one of its own. */
  idleStopped: boolean;
  close(): Promise<void>;
}

export interface HelperProcessHooks {
  /** It exited (its pending requests were answered LOST first). */
  onExit: (running: Running, code: number | null, signal: string | null) => void;
  /** A message after its ready message, with the handle it carried. */
  onMessage: (running: Running, message: unknown, handle: unknown) => void;
}

/**
 * Spawns a helper and resolves once it says it is ready in the namespace; rejects with why it did
 * not (with the first of its stderr), having killed it.
 */
export async function startHelperProcess(
  spawnHelper: HelperSpawner,
  hooks: HelperProcessHooks,
): Promise<Running> {
  const child = await spawnHelper();
  if (child === null) throw new Error('the container process is no longer the one proven');
  const running: Running = {
    child,
    pending: new Map(),
    alive: true,
    idleStopped: false,
    exited: Promise.resolve(),
    close: () => stopHelperProcess(running),
  };
  let spawnError = '';
  running.exited = new Promise((resolve) => {
    let over = false;
    const ended = (code: number | null, signal: NodeJS.Signals | null) => {
      if (over) return;
      over = true;
      running.alive = false;
      for (const pending of running.pending.values()) pending.resolve(LOST);
      running.pending.clear();
      hooks.onExit(running, code, signal);
      resolve();
    };
    child.once('exit', ended);
    // A helper that could not be spawned at all (no nsenter, say) emits 'error' and never 'exit'.
    child.on('error', (error) => {
      if (child.pid !== undefined || spawnError !== '') return;
      spawnError = error.message;
      ended(null, null);
    });
  });
  child.once('disconnect', () => {
    running.alive = false;
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 2_048) stderr += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.off('message', onReady);
      if (running.alive) child.kill('SIGKILL');
      reject(new Error(`${reason}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`));
    };
    const timer = setTimeout(
      () => fail(`the helper did not start within ${HELPER_START_TIMEOUT_MS} ms`),
      HELPER_START_TIMEOUT_MS,
    );
    const onReady = (message: unknown) => {
      if (!isHelperReady(message)) return;
      clearTimeout(timer);
      child.off('message', onReady);
      resolve();
    };
    child.on('message', onReady);
    void running.exited.then(() =>
      fail(
        spawnError === ''
          ? 'the helper exited before it was ready'
          : `the helper could not start: ${spawnError}`,
      ),
    );
  });
  child.on('message', (message: unknown, handle: unknown) => hooks.onMessage(running, message, handle));
  return running;
}

/** Ends a helper: its channel closed, SIGTERM, SIGKILL after HELPER_EXIT_GRACE_MS. */
async function stopHelperProcess(running: Running): Promise<void> {
  const { child } = running;
  if (child.exitCode === null && child.signalCode === null) {
    if (child.connected) child.disconnect();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_EXIT_GRACE_MS);
    await running.exited;
    clearTimeout(timer);
  }
}
