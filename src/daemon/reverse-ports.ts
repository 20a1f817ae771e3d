import type pino from 'pino';
import { errorMessage } from '../common/errors.js';
import { shortId } from '../common/short-id.js';
import type { StatePaths } from '../common/state-dir.js';
import { reversePortText, type ReversePort } from '../config/reverse-ports.js';
import { removeReversePaths, writeReversePaths, type ServedReverse } from '../control/reverse-paths.js';
import type { TargetContainer } from '../forwarding/forward-state.js';
import { reverseEntry, type RelayPath, type ReverseOwner } from '../forwarding/port-entry.js';
import { MuxReverse } from '../forwarding/relay/mux/mux-reverse.js';
import {
  serveReversePort,
  serveReversePortOverMux,
  type ServedReversePort,
} from '../forwarding/reverse-relay.js';
import { wantsMux, wantsNetns } from '../forwarding/route.js';
import type { Docker } from '../runtime/docker.js';

type Logger = pino.Logger;

/** What may serve a container's reverse ports. */
export interface ReverseMeans {
  /** A namespace helper may run for the container. */
  netns: boolean;
  /** The container has a mux channel (python3 or perl, and `--relay-path` allows it). */
  mux: boolean;
  hostNetwork: boolean;
}

/**
 * Pure: the path that serves a container's reverse ports: its namespace helper where one may run
 * (a listener in its namespace, nothing run inside), else its mux channel (the agent listens); or,
 * when neither can, why not.
 */
export function reversePathOf(
  means: ReverseMeans,
  relayPath: RelayPath | null,
): { path: ServedReverse['path'] } | { path: null; reason: string } {
  if (means.hostNetwork) {
    return {
      path: null,
      reason: "the container is on the host's network: the host's loopback is its own already",
    };
  }
  if (means.netns) return { path: 'netns' };
  if (means.mux) return { path: 'mux' };
  if (!wantsNetns(relayPath) && !wantsMux(relayPath)) {
    const ruled = `--relay-path ${relayPath ?? 'auto'} rules out the namespace helper and the mux channel`;
    return { path: null, reason: `${ruled}, which serve reverse ports` };
  }
  const noNamespace =
    "this forwarder cannot enter the container's network namespace (it must be root, or own a rootless engine's, with the engine on this machine; the forwarder log says which)";
  const noMux = 'the container has no python3 or perl to run the mux agent';
  if (relayPath === 'netns') return { path: null, reason: noNamespace };
  if (relayPath === 'mux') return { path: null, reason: noMux };
  return { path: null, reason: `${noNamespace}, and ${noMux}` };
}

/**
 * Pure: whether a reverse port the namespace helper could not listen for goes to the mux channel: the
 * helper cannot start (not a port taken in the container, which the channel could not have either)
 * and the container has a channel.
 */
export function fallsToMux(helperUsable: boolean, hasMux: boolean): boolean {
  return !helperUsable && hasMux;
}

type Served = Pick<TargetContainer, 'netns' | 'mux' | 'hostNetwork'>;

/**
 * The reverse ports of the forwarder's container, served through its namespace helper or, where
 * none can run (or the helper cannot start), over its mux channel; served again through the next
 * ones when the container restarts. Each gets a `forwarded` port event, or a `failed` one saying why
 * it cannot be served (`ports --watch` shows them); the path serving each is written for `ports` (see
 * reverse-paths).
 */
export class ReversePorts {
  private served = new Map<number, ServedReversePort>();
  private paths = new Map<number, ServedReverse>();
  private mux: MuxReverse | null = null;
  /** Counts serve() calls: what an earlier one set going does nothing once another has begun. */
  private generation = 0;

  constructor(
    private readonly ports: readonly ReversePort[],
    private readonly deps: {
      docker: Docker;
      log: Logger;
      relayPath: RelayPath | null;
      owner: ReverseOwner;
      paths: StatePaths;
    },
  ) {}

  /** Serves every reverse port through the container's current helper or channel, or says why not. */
  async serve(target: Served): Promise<void> {
    this.close();
    const generation = ++this.generation;
    const chosen = reversePathOf(
      { netns: target.netns !== null, mux: target.mux !== null, hostNetwork: target.hostNetwork },
      this.deps.relayPath,
    );
    for (const port of this.ports) {
      if (chosen.path === null) this.report(port, null, 'failed', chosen.reason);
      else this.serveOne(port, chosen.path, target, generation);
    }
    await this.writePaths();
  }

  private serveOne(port: ReversePort, path: 'netns' | 'mux', target: Served, generation: number): void {
    const { log, docker } = this.deps;
    const { netns, mux } = target;
    let served: ServedReversePort;
    if (path === 'netns' && netns !== null) {
      const event = { direction: 'reverse', hostPort: port.hostPort, containerPort: port.containerPort };
      served = serveReversePort(netns, port, {
        docker,
        log: (message, fields) => log.info({ ...fields, ...event }, message),
      });
    } else if (path === 'mux' && mux !== null) {
      this.mux ??= new MuxReverse({
        hold: () => mux.hold(),
        where: `container ${shortId(this.deps.owner.containerId)}`,
      });
      served = serveReversePortOverMux(this.mux, port);
    } else {
      this.report(port, path, 'failed', 'no path serves it');
      return;
    }
    this.served.set(port.hostPort, served);
    this.paths.set(port.hostPort, { hostPort: port.hostPort, containerPort: port.containerPort, path });
    void served.listening.then((reason) => {
      if (generation !== this.generation) return;
      if (reason !== null && path === 'netns' && fallsToMux(netns?.usable ?? false, mux !== null)) {
        log.info(
          { hostPort: port.hostPort, containerPort: port.containerPort, reason },
          'the namespace helper cannot start: the mux channel serves this reverse port',
        );
        served.close();
        this.serveOne(port, 'mux', target, generation);
        void this.writePaths();
        return;
      }
      this.report(port, path, reason === null ? 'forwarded' : 'failed', reason);
    });
  }

  /** A port event as the forwards' are: `ports --watch` shows it. */
  private report(
    port: ReversePort,
    path: ServedReverse['path'] | null,
    type: 'forwarded' | 'failed',
    reason: string | null,
  ): void {
    const entry = { ...reverseEntry(this.deps.owner, port), path };
    this.deps.log[type === 'forwarded' ? 'info' : 'warn'](
      { portEvent: { ...entry, type, at: new Date().toISOString(), ...(reason === null ? {} : { reason }) } },
      `reverse port ${reversePortText(port)} ${type}`,
    );
  }

  /** Says which path serves each port; a forwarder with none served keeps no file: `ports` reads none as none. */
  private async writePaths(): Promise<void> {
    const { paths, owner, log } = this.deps;
    const served = [...this.paths.values()];
    const said =
      served.length === 0
        ? removeReversePaths(paths, owner.containerId)
        : writeReversePaths(paths, owner.containerId, served);
    await said.catch((error: unknown) =>
      log.warn({ err: error }, `cannot say which path serves the reverse ports: ${errorMessage(error)}`),
    );
  }

  /** Stops listening (the listeners in the container are closed). */
  close(): void {
    for (const served of this.served.values()) served.close();
    this.served.clear();
    this.paths.clear();
    this.mux?.close();
    this.mux = null;
  }

  /** Stops listening, and removes what `ports` reads of them: the forwarder is ending. */
  async end(): Promise<void> {
    this.generation++;
    this.close();
    await removeReversePaths(this.deps.paths, this.deps.owner.containerId).catch(() => undefined);
  }
}
