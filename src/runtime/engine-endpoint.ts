/** The engine's socket when nothing says otherwise (the docker CLI's default too). */
export const DEFAULT_ENGINE_SOCKET = '/var/run/docker.sock';

/** What decides where the docker CLI would talk to. */
export interface EngineEndpointInputs {
  /** The CLI portpilot was told to use (--docker-path). */
  dockerPath: string;
  /** DOCKER_HOST and DOCKER_CONTEXT from the environment. */
  dockerHost: string | undefined;
  dockerContext: string | undefined;
  /** `currentContext` of the CLI's config.json; null when unset, undefined when the file is unreadable. */
  currentContext: string | null | undefined;
}

/**
 * The local unix socket the engine API can be reached at, where that is certainly the engine the
 * docker CLI would use; null otherwise (another CLI, a remote or SSH host, a named context, a config
 * that could not be read): connectEngine then resolves those as the CLI does, or leaves them to it.
 */
export function engineSocketPath(inputs: EngineEndpointInputs): string | null {
  if (inputs.dockerPath !== 'docker') return null;
  const host = inputs.dockerHost;
  if (host !== undefined && host !== '') {
    const path = host.startsWith('unix://') ? host.slice('unix://'.length) : '';
    return path.startsWith('/') ? path : null;
  }
  if (inputs.dockerContext !== undefined && inputs.dockerContext !== '') {
    return inputs.dockerContext === 'default' ? DEFAULT_ENGINE_SOCKET : null;
  }
  if (inputs.currentContext === undefined) return null;
  if (inputs.currentContext !== null && inputs.currentContext !== 'default') return null;
  return DEFAULT_ENGINE_SOCKET;
}

/** `currentContext` from the text of the CLI's config.json: null when unset, undefined when not JSON. */
export function currentContextOf(configText: string): string | null | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(configText);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const context = (parsed as { currentContext?: unknown }).currentContext;
  if (context === undefined || context === '') return null;
  return typeof context === 'string' ? context : undefined;
}

/** The first Podman whose API removes an exec session on request (`POST /libpod/exec/{id}/remove`). */
export const PODMAN_EXEC_REMOVE_VERSION = [4, 8, 0] as const;

/**
 * Whether the engine that sent this `Libpod-Api-Version` header (Podman's; Docker sends none) must be
 * asked to remove each exec session once it has ended, and can be: Docker forgets a finished exec
 * itself, Podman keeps its session for its `exit_command_delay` (300 s by default) unless removed,
 * which its API offers from 4.8 on. (The session's two conmon processes wait out that delay even
 * then.) Pure.
 */
export function execRemovalOf(libpodApiVersion: string | undefined): 'none' | 'remove' | 'unsupported' {
  if (libpodApiVersion === undefined) return 'none';
  const parts = /^(\d+)\.(\d+)\.(\d+)/.exec(libpodApiVersion.trim())?.slice(1).map(Number);
  if (!parts) return 'unsupported';
  for (const [index, wanted] of PODMAN_EXEC_REMOVE_VERSION.entries()) {
    const difference = (parts[index] ?? 0) - wanted;
    if (difference !== 0) return difference > 0 ? 'remove' : 'unsupported';
  }
  return 'remove';
}
