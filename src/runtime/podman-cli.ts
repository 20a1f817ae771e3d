import type { EngineApi } from './engine-api.js';
import type { ProcessRunner } from './process-runner.js';

/** The local Podman CLI's name, found on PATH. */
export const PODMAN_CLI = 'podman';
/** How long `podman info` may take. */
const PODMAN_INFO_TIMEOUT_MS = 10_000;

/** Where a Podman keeps its containers, from its info, and whether it is a client of another Podman. */
export interface PodmanStore {
  graphRoot: string;
  runRoot: string;
  remote: boolean;
}

/** The store named in Podman's info JSON (`podman info --format json`, `GET /libpod/info`); null if none. Pure. */
export function podmanStoreOf(infoText: string): PodmanStore | null {
  let info: { store?: { graphRoot?: unknown; runRoot?: unknown }; host?: { serviceIsRemote?: unknown } };
  try {
    info = JSON.parse(infoText) as typeof info;
  } catch {
    return null;
  }
  const graphRoot = info?.store?.graphRoot;
  const runRoot = info?.store?.runRoot;
  if (typeof graphRoot !== 'string' || typeof runRoot !== 'string' || !graphRoot || !runRoot) return null;
  return { graphRoot, runRoot, remote: info.host?.serviceIsRemote === true };
}

/**
 * Whether a local Podman CLI with this store runs its execs in the containers of the service with
 * that one: a CLI that is not a remote client and uses the same storage sees the same containers
 * (rootful or rootless alike: the user, and so the store, must match). Pure.
 */
export function sameEngine(cli: PodmanStore | null, service: PodmanStore | null): boolean {
  if (!cli || !service || cli.remote) return false;
  return cli.graphRoot === service.graphRoot && cli.runRoot === service.runRoot;
}

/**
 * The local `podman` CLI when it reaches the same containers as the Podman service behind `engine`;
 * null when the engine is not Podman, or there is no such CLI. Podman keeps every exec started through
 * its service (and two conmon processes each) for its exit_command_delay, 300 s by default, where
 * `podman exec` run as a local process leaves nothing behind once it exits.
 */
export async function podmanCliFor(engine: EngineApi, runner: ProcessRunner): Promise<string | null> {
  const serviceInfo = await engine.podmanInfo();
  if (serviceInfo === null) return null;
  const cliInfo = await runner
    .run(PODMAN_CLI, ['info', '--format', 'json'], { timeoutMs: PODMAN_INFO_TIMEOUT_MS })
    .catch(() => null);
  if (cliInfo?.exitCode !== 0) return null;
  return sameEngine(podmanStoreOf(cliInfo.stdout), podmanStoreOf(serviceInfo)) ? PODMAN_CLI : null;
}
