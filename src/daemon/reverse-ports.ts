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
 * The reverse ports of the forwarder's container, served through its namespace helper or, where
 * none can run, over its mux channel; served again through the next ones when the container
 * restarts. Each gets a `forwarded` port event, or a `failed` one saying why it cannot be served
 * (`ports --watch` shows them); the path serving each is written for `ports` (see reverse-paths).
 */
export class ReversePorts {
  private served: ServedReversePort[] = [];
  private mux: MuxReverse | null = null;

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
  async serve(target: Pick<TargetContainer, 'netns' | 'mux' | 'hostNetwork'>): Promise<void> {
    this.close();
    const { log, docker, owner } = this.deps;
    const { netns, mux } = target;
    const chosen = reversePathOf(
      { netns: netns !== null, mux: mux !== null, hostNetwork: target.hostNetwork },
      this.deps.relayPath,
    );
    if (chosen.path === 'mux' && mux !== null) {
      this.mux = new MuxReverse({ hold: () => mux.hold(), where: `container ${shortId(owner.containerId)}` });
    }
    const paths: ServedReverse[] = [];
    for (const port of this.ports) {
      const entry = { ...reverseEntry(owner, port), path: chosen.path };
      const event = { direction: 'reverse', hostPort: port.hostPort, containerPort: port.containerPort };
      // A port event as the forwards' are: `ports --watch` shows it.
      const report = (type: 'forwarded' | 'failed', reason: string | null) =>
        log[type === 'forwarded' ? 'info' : 'warn'](
          {
            portEvent: {
              ...entry,
              type,
              at: new Date().toISOString(),
              ...(reason === null ? {} : { reason }),
            },
          },
          `reverse port ${reversePortText(port)} ${type}`,
        );
      let served: ServedReversePort;
      if (chosen.path === 'netns' && netns !== null) {
        served = serveReversePort(netns, port, {
          docker,
          log: (message, fields) => log.info({ ...fields, ...event }, message),
        });
      } else if (chosen.path === 'mux' && this.mux !== null) {
        served = serveReversePortOverMux(this.mux, port);
      } else {
        report('failed', chosen.path === null ? chosen.reason : 'no path serves it');
        continue;
      }
      paths.push({ hostPort: port.hostPort, containerPort: port.containerPort, path: chosen.path });
      this.served.push(served);
      void served.listening.then((reason) => report(reason === null ? 'forwarded' : 'failed', reason));
    }
    // A forwarder with no reverse port served keeps no file of them: `ports` reads none as none.
    const said =
      paths.length === 0
        ? removeReversePaths(this.deps.paths, owner.containerId)
        : writeReversePaths(this.deps.paths, owner.containerId, paths);
    await said.catch((error: unknown) =>
      log.warn({ err: error }, `cannot say which path serves the reverse ports: ${errorMessage(error)}`),
    );
  }

  /** Stops listening (the listeners in the container are closed). */
  close(): void {
    for (const served of this.served) served.close();
    this.served = [];
    this.mux?.close();
    this.mux = null;
  }

  /** Stops listening, and removes what `ports` reads of them: the forwarder is ending. */
  async end(): Promise<void> {
    this.close();
    await removeReversePaths(this.deps.paths, this.deps.owner.containerId).catch(() => undefined);
  }
}
