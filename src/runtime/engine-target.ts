import { join } from 'node:path';
import { DEFAULT_ENGINE_SOCKET } from './engine-endpoint.js';

/** An engine reached over SSH (`ssh://[user@]host[:port]`), as the docker CLI reaches it. */
export interface SshEngineTarget {
  kind: 'ssh';
  user: string | null;
  host: string;
  port: number | null;
}

/** TLS for a tcp:// engine: the files in `certDir` (ca.pem, cert.pem, key.pem), verified or not. */
export interface EngineTls {
  verify: boolean;
  certDir: string;
}

/** Where an engine listens, as DOCKER_HOST or a context's endpoint names it. */
export type EngineTarget =
  | { kind: 'unix'; path: string }
  | SshEngineTarget
  | { kind: 'tcp'; host: string; port: number; tls: EngineTls | null };

/** The ports the docker CLI assumes for tcp:// without one: 2376 with TLS, 2375 without. */
export const DOCKER_TLS_PORT = 2376;
export const DOCKER_PLAIN_PORT = 2375;

/**
 * A DOCKER_HOST value (or a context's `Endpoints.docker.Host`) as a target; null for what the docker
 * CLI would refuse or what is not one of these (npipe://, fd://, a path after an SSH host). `tls`
 * applies to tcp:// only. Pure.
 */
export function parseEngineHost(value: string, tls: EngineTls | null): EngineTarget | null {
  const trimmed = value.trim();
  if (trimmed.startsWith('unix://')) {
    const path = trimmed.slice('unix://'.length);
    return path.startsWith('/') ? { kind: 'unix', path } : null;
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '' || url.search !== '' || url.hash !== '') return null;
  const port = url.port === '' ? null : Number(url.port);
  if (url.protocol === 'ssh:') {
    // The docker CLI refuses a path after the host (`ssh://host/x`), and a password in the URL.
    if (url.pathname !== '' && url.pathname !== '/') return null;
    if (url.password !== '') return null;
    return { kind: 'ssh', user: url.username === '' ? null : decodeURIComponent(url.username), host, port };
  }
  if (url.protocol === 'tcp:') {
    if (url.username !== '' || (url.pathname !== '' && url.pathname !== '/')) return null;
    return { kind: 'tcp', host, port: port ?? (tls ? DOCKER_TLS_PORT : DOCKER_PLAIN_PORT), tls };
  }
  return null;
}

/**
 * TLS as the docker CLI takes it from the environment for a DOCKER_HOST: on with DOCKER_TLS_VERIFY
 * (verified) or DOCKER_TLS (not verified), its files in DOCKER_CERT_PATH, else `~/.docker`. Pure.
 */
export function tlsOfEnv(env: NodeJS.ProcessEnv, home: string): EngineTls | null {
  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  if (!verify && (env.DOCKER_TLS ?? '') === '') return null;
  return { verify, certDir: env.DOCKER_CERT_PATH || join(home, '.docker') };
}

/** What `docker context inspect` says of a context's engine endpoint. */
export interface ContextEndpoint {
  host: string;
  skipTlsVerify: boolean;
  /** The folder of the context's TLS files (`<TLSPath>/docker`), null when it has none. */
  tlsDir: string | null;
}

/** The docker endpoint in the text `docker context inspect NAME` prints; null when it has none. Pure. */
export function parseContextInspect(text: string): ContextEndpoint | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const context = (Array.isArray(parsed) ? parsed[0] : parsed) as
    | {
        Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } };
        TLSMaterial?: { docker?: unknown };
        Storage?: { TLSPath?: unknown };
      }
    | undefined;
  const endpoint = context?.Endpoints?.docker;
  if (typeof endpoint?.Host !== 'string' || endpoint.Host === '') return null;
  const tlsPath = context?.Storage?.TLSPath;
  const hasTls = Array.isArray(context?.TLSMaterial?.docker) && (context.TLSMaterial.docker as []).length > 0;
  return {
    host: endpoint.Host,
    skipTlsVerify: endpoint.SkipTLSVerify === true,
    tlsDir: hasTls && typeof tlsPath === 'string' ? join(tlsPath, 'docker') : null,
  };
}

/** A context's endpoint as a target: its own TLS files, if any, verified unless it says to skip. Pure. */
export function targetOfContext(endpoint: ContextEndpoint): EngineTarget | null {
  const tls = endpoint.tlsDir === null ? null : { verify: !endpoint.skipTlsVerify, certDir: endpoint.tlsDir };
  return parseEngineHost(endpoint.host, tls);
}

/**
 * The engine socket on the far side of an SSH link: what the remote docker CLI says it would use
 * (`docker context inspect` there prints its DOCKER_HOST or current context's endpoint, as
 * `docker system dial-stdio` would dial it), or the default socket when that is not a local socket
 * there. Pure.
 */
export function remoteSocketOf(probeOutput: string | null): string {
  const target = probeOutput === null ? null : parseEngineHost(probeOutput, null);
  return target?.kind === 'unix' ? target.path : DEFAULT_ENGINE_SOCKET;
}
