import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { EngineApi, type TcpEngineAddress } from './engine-api.js';
import { currentContextOf, engineSocketPath } from './engine-endpoint.js';
import {
  parseContextInspect,
  parseEngineHost,
  targetOfContext,
  tlsOfEnv,
  type EngineTarget,
  type EngineTls,
} from './engine-target.js';
import type { ProcessRunner } from './process-runner.js';
import { SshEngineLink, type LinkLog } from './ssh-engine-link.js';

/** The longest unix socket path the kernel takes (sun_path is 108 bytes with its NUL), with room. */
const MAX_SOCKET_PATH = 100;
/** What the link's dial sockets add to its socket's name (`.dial-<n>` before `.sock`). */
const DIAL_SUFFIX_ROOM = 12;
const CONTEXT_INSPECT_TIMEOUT_MS = 10_000;

/** How the forwarder reaches its engine. */
export interface EngineRoute {
  /** The engine's API where it can be reached directly (a local socket, TCP/TLS, an SSH link); else null. */
  api: EngineApi | null;
  /** The runner for the docker CLI: the one given, or one whose DOCKER_HOST is the SSH link's socket. */
  runner: ProcessRunner;
  /** The SSH link that carries everything, for an ssh:// engine. */
  link: SshEngineLink | null;
  /** What the CLI's settings name, for the log; null when it cannot be told. */
  target: EngineTarget | null;
}

export interface ConnectOptions {
  /** Where an SSH link's local socket goes (the forwarder's private state dir), if the path fits. */
  socketPath: string;
  retryDelayMs: (failures: number) => number;
  log: LinkLog;
}

/**
 * The engine the docker CLI would use (DOCKER_HOST, DOCKER_CONTEXT, the config's current context),
 * reached without a CLI process where it can be: a local socket or tcp:// (TLS as the CLI takes it)
 * through the API; ssh:// through ONE persistent SSH link whose forwarded socket the API and every
 * CLI call then use. Another CLI (--docker-path), or an engine that does not answer, keeps to the CLI.
 */
export async function connectEngine(
  dockerPath: string,
  env: NodeJS.ProcessEnv,
  runner: ProcessRunner,
  options: ConnectOptions,
): Promise<EngineRoute> {
  const none: EngineRoute = { api: null, runner, link: null, target: null };
  if (dockerPath !== 'docker') return none;
  const target = await targetOfCli(env, runner).catch((error: unknown) => {
    options.log('warn', `cannot tell which engine the docker CLI uses: ${errorMessage(error)}`);
    return null;
  });
  if (target === null) return none;
  if (target.kind === 'unix') {
    const api = new EngineApi(target.path);
    return { ...none, api: (await api.ping()) ? api : null, target };
  }
  if (target.kind === 'tcp') {
    const tls = target.tls === null ? null : await readTls(target.tls);
    const address: TcpEngineAddress = { host: target.host, port: target.port, tls };
    const api = new EngineApi('', address);
    return { ...none, api: (await api.ping()) ? api : null, target };
  }
  const socketPath = linkSocketPath(options.socketPath);
  const api = new EngineApi(socketPath);
  const link = new SshEngineLink({
    target,
    localSocket: socketPath,
    controlPath: socketPath.replace(/\.sock$/, '.ctl'),
    runner,
    answers: () => api.ping(),
    retryDelayMs: options.retryDelayMs,
    log: options.log,
  });
  if (!(await link.start())) return { ...none, target };
  const cliEnv: NodeJS.ProcessEnv = { ...env, DOCKER_HOST: `unix://${socketPath}` };
  delete cliEnv.DOCKER_CONTEXT;
  return { api, runner: runnerWithEnv(runner, cliEnv), link, target };
}

/** Where the docker CLI would connect, from its environment and config; null when that is unclear. */
async function targetOfCli(env: NodeJS.ProcessEnv, runner: ProcessRunner): Promise<EngineTarget | null> {
  const configDir = env.DOCKER_CONFIG || join(homedir(), '.docker');
  const currentContext = await readFile(join(configDir, 'config.json'), 'utf8').then(
    currentContextOf,
    (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : undefined),
  );
  const inputs = { dockerPath: 'docker', dockerHost: env.DOCKER_HOST, dockerContext: env.DOCKER_CONTEXT };
  const local = engineSocketPath({ ...inputs, currentContext });
  if (local !== null) return { kind: 'unix', path: local };
  if (env.DOCKER_HOST) return parseEngineHost(env.DOCKER_HOST, tlsOfEnv(env, homedir()));
  const context = env.DOCKER_CONTEXT || currentContext;
  if (!context) return null;
  const inspected = await runner.run('docker', ['context', 'inspect', '--', context], {
    timeoutMs: CONTEXT_INSPECT_TIMEOUT_MS,
    env,
  });
  const endpoint = inspected.exitCode === 0 ? parseContextInspect(inspected.stdout) : null;
  return endpoint === null ? null : targetOfContext(endpoint);
}

// The PEM files as the docker CLI reads them: ca.pem (needed to verify), cert.pem and key.pem if there.
async function readTls(tls: EngineTls): Promise<TcpEngineAddress['tls']> {
  const read = (name: string) => readFile(join(tls.certDir, name)).catch(() => undefined);
  const [ca, cert, key] = await Promise.all([read('ca.pem'), read('cert.pem'), read('key.pem')]);
  return { verify: tls.verify, ca, cert, key };
}

// ssh takes `-L LOCAL:REMOTE` and expands `%` tokens in a ControlPath: a path with a colon or a
// percent sign, or one too long for the link's sockets, goes to a private temp dir.
function linkSocketPath(wanted: string): string {
  if (wanted.length + DIAL_SUFFIX_ROOM <= MAX_SOCKET_PATH && !/[:%]/.test(wanted)) return wanted;
  return join(mkdtempSync(join(tmpdir(), 'portpilot-engine-')), 'engine.sock');
}

/** A runner whose every command runs with `env` (a command's own `env` still wins where given). */
export function runnerWithEnv(runner: ProcessRunner, env: NodeJS.ProcessEnv): ProcessRunner {
  return {
    run: (file, args, options = {}) => runner.run(file, args, { ...options, env: options.env ?? env }),
    spawn: (file, args, options = {}) => runner.spawn(file, args, { ...options, env: options.env ?? env }),
  };
}
