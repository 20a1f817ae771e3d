import { RuntimeError } from '../common/errors.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './compose-labels.js';
import type { EngineApi } from './engine-api.js';
import { execToCompletion } from './exec-to-completion.js';
import type { ProcessRunner, RunOptions, RunResult, RunningProcess } from './process-runner.js';
import { parsePublishedPorts, type InspectPortMap, type PublishedPort } from './published-ports.js';
import type { SshLinkDials } from './ssh-link-dials.js';

/** What portpilot needs to know of a container. */
export interface ContainerInfo {
  /** Full 64-hex id. */
  id: string;
  /** Name without the leading slash. */
  name: string;
  running: boolean;
  /** Status word from the engine: running, exited, created, … */
  status: string;
  /** The container's init process as the host sees it; 0 when not running. */
  pid: number;
  startedAt: string;
  /** The container's addresses on its networks (IPv4 and IPv6), for dialling it directly. */
  ipAddresses: string[];
  /** Each IPv4 address's network gateway: on a bridge, the engine host's own address there. */
  gateways?: Record<string, string>;
  labels: Record<string, string>;
  image: string;
  /** The id of the image the container was created from (`sha256:…`); '' when absent. */
  imageId: string;
  /** The image's or run's working directory, '' when unset. */
  workingDir: string;
  /** Compose service name, when Compose made it. */
  composeService: string | null;
  composeProject: string | null;
  /** HostConfig.NetworkMode: `bridge`, `host`, `none`, `container:<id>`, a network's name; '' when absent. */
  networkMode: string;
  /** The ports the engine publishes on the host itself (`-p`, appPort, Compose `ports`). */
  publishedPorts: PublishedPort[];
}

interface InspectJson {
  Id: string;
  Name: string;
  Image?: string;
  State: { Status: string; Running: boolean; Pid: number; StartedAt: string };
  Config: { Image: string; Labels: Record<string, string> | null; WorkingDir?: string };
  HostConfig?: { NetworkMode?: string; PortBindings?: InspectPortMap };
  NetworkSettings: {
    Networks: Record<string, { IPAddress?: string; GlobalIPv6Address?: string; Gateway?: string }> | null;
    Ports?: InspectPortMap;
  };
}

/** Turns `docker inspect` JSON for one container into ContainerInfo. */
export function parseInspect(json: InspectJson): ContainerInfo {
  const labels = json.Config.Labels ?? {};
  const ipAddresses: string[] = [];
  const gateways: Record<string, string> = {};
  for (const network of Object.values(json.NetworkSettings.Networks ?? {})) {
    if (network.IPAddress) ipAddresses.push(network.IPAddress);
    if (network.IPAddress && network.Gateway) gateways[network.IPAddress] = network.Gateway;
    if (network.GlobalIPv6Address) ipAddresses.push(network.GlobalIPv6Address);
  }
  return {
    id: json.Id,
    name: json.Name.replace(/^\//, ''),
    running: json.State.Running,
    status: json.State.Status,
    pid: json.State.Pid,
    startedAt: json.State.StartedAt,
    ipAddresses,
    gateways,
    labels,
    image: json.Config.Image,
    imageId: json.Image ?? '',
    workingDir: json.Config.WorkingDir ?? '',
    composeService: labels[COMPOSE_SERVICE_LABEL] ?? null,
    composeProject: labels[COMPOSE_PROJECT_LABEL] ?? null,
    networkMode: json.HostConfig?.NetworkMode ?? '',
    publishedPorts: parsePublishedPorts(
      json.NetworkSettings.Ports ?? null,
      json.HostConfig?.PortBindings ?? null,
    ),
  };
}

/**
 * A docker-compatible CLI, driven through the process runner; with `engine`, streaming execs go
 * through the engine's API instead (see EngineApi), everything else still through the CLI. Execs the
 * API does not carry run with `execPath`: the same CLI, or one that reaches the same engine more
 * cheaply (see podmanCliFor).
 */
export class Docker {
  constructor(
    readonly runner: ProcessRunner,
    readonly dockerPath = 'docker',
    readonly engine: EngineApi | null = null,
    readonly execPath = dockerPath,
    /** An ssh:// engine's link, which dials the containers' addresses as the remote host does. */
    readonly linkDials: SshLinkDials | null = null,
  ) {}

  /** Run `docker ARGS…` and return its output; throws RuntimeError on a non-zero exit. */
  async cli(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    let result: RunResult;
    try {
      result = await this.runner.run(this.dockerPath, args, options);
    } catch (error) {
      throw new RuntimeError(`cannot run the container CLI '${this.dockerPath}'`, {
        cause: error,
        description: `Install Docker, or name a docker-compatible CLI with --docker-path.`,
      });
    }
    if (result.exitCode !== 0) {
      throw new RuntimeError(`'${this.dockerPath} ${args[0] ?? ''}' failed: ${firstLine(result.stderr)}`, {
        description: result.stderr.trim() || `exit code ${result.exitCode}`,
      });
    }
    return result;
  }

  /**
   * The container named or identified by `ref`, or null when the engine says it has no such container.
   * Rejects (RuntimeError) when the engine cannot be asked or gives no answer within `timeoutMs`.
   */
  async inspect(ref: string, options: { timeoutMs?: number } = {}): Promise<ContainerInfo | null> {
    let result: RunResult;
    try {
      result = await this.runner.run(this.dockerPath, ['container', 'inspect', '--', ref], options);
    } catch (error) {
      throw new RuntimeError(`cannot run the container CLI '${this.dockerPath}'`, {
        cause: error,
        description: `Install Docker, or name a docker-compatible CLI with --docker-path.`,
      });
    }
    if (result.limit === 'time') {
      throw new RuntimeError(`cannot inspect container '${ref}': no answer in ${options.timeoutMs} ms`, {
        description: `Check that the engine '${this.dockerPath}' talks to (DOCKER_HOST) is reachable.`,
      });
    }
    if (result.exitCode !== 0) {
      if (/no such (container|object)/i.test(result.stderr)) return null;
      throw new RuntimeError(`cannot inspect container '${ref}': ${firstLine(result.stderr)}`, {
        description: result.stderr.trim(),
      });
    }
    const parsed = JSON.parse(result.stdout) as InspectJson[];
    const first = parsed[0];
    return first ? parseInspect(first) : null;
  }

  /** The labels an image carries (which Docker copies to every container made from it). */
  async imageLabels(ref: string): Promise<Record<string, string>> {
    const { stdout } = await this.cli(['image', 'inspect', '--format', '{{json .Config.Labels}}', '--', ref]);
    return (JSON.parse(stdout) as Record<string, string> | null) ?? {};
  }

  /** Ids of the containers (running or not) that carry every label given. */
  async listByLabels(labels: Record<string, string>, all = true): Promise<string[]> {
    const args = ['ps', '-q', '--no-trunc'];
    if (all) args.push('-a');
    for (const [key, value] of Object.entries(labels)) args.push('--filter', `label=${key}=${value}`);
    const result = await this.cli(args);
    return result.stdout.split('\n').filter((line) => line.trim() !== '');
  }

  /** Run a command in the container to completion (through the engine's API where it has one). */
  exec(containerId: string, argv: readonly string[], options: RunOptions & { user?: string } = {}) {
    if (this.engine)
      return execToCompletion(this.engine.execStream(containerId, argv, options.user), options);
    const args = ['exec'];
    if (options.input !== undefined) args.push('-i');
    if (options.user) args.push('-u', options.user);
    return this.runner.run(this.execPath, [...args, containerId, ...argv], options);
  }

  /** Start `docker exec -i` with piped streams: the relay's transport. */
  execStream(containerId: string, argv: readonly string[]): RunningProcess {
    if (this.engine) return this.engine.execStream(containerId, argv);
    return this.runner.spawn(this.execPath, ['exec', '-i', containerId, ...argv]);
  }

  async start(containerId: string): Promise<void> {
    await this.cli(['start', containerId]);
  }

  async stop(containerId: string): Promise<void> {
    await this.cli(['stop', containerId]);
  }

  /** Removes the container and its anonymous volumes (as `compose down -v` and `docker run --rm` do). */
  async remove(containerId: string): Promise<void> {
    await this.cli(['rm', '-f', '-v', containerId]);
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
