import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where portpilot keeps its state: --state-dir, else PORTPILOT_STATE_DIR, else the XDG state home. */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.PORTPILOT_STATE_DIR) return resolve(env.PORTPILOT_STATE_DIR);
  const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return resolve(stateHome, 'portpilot');
}

/** The files inside a state dir. Each has one owning module; this only names them. */
export interface StatePaths {
  root: string;
  /** Host-global registry of forwarded ports (forwarding/registry.ts). */
  registry: string;
  /** Per-container markers, logs and spawn locks (daemon/marker.ts). */
  forwarders: string;
}

export function statePaths(root: string): StatePaths {
  return { root, registry: join(root, 'registry.json'), forwarders: join(root, 'forwarders') };
}
