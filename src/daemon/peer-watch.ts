import type pino from 'pino';
import {
  ContainerGoneSignal,
  createListenerSource,
  type ListenerSource,
} from '../forwarding/detect/listener-source.js';
import type { RelayProgram } from '../forwarding/relay/exec/exec-relay.js';
import type { Supervisor } from '../forwarding/supervisor.js';
import {
  COMPOSE_CONTAINER_NUMBER_LABEL,
  COMPOSE_ONEOFF_LABEL,
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
} from '../runtime/compose-labels.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { ScanSchedule } from './scan-schedule.js';

/**
 * A service container's tables are read at least this often: only the binding of its declared ports
 * is wanted from them, and its change checks catch a server's listen() as they do the primary's.
 */
export const PEER_FULL_SCAN_INTERVAL_MS = 10_000;
/** A service container seen down is looked at again after this long, doubling up to the maximum. */
export const PEER_DOWN_FIRST_CHECK_MS = 250;
export const PEER_DOWN_MAX_CHECK_MS = 30_000;

/**
 * The Compose labels a container that replaces a service's container carries the same values of:
 * `docker compose up` recreates a service's container (a new id) when its definition changed, or
 * with --force-recreate. A one-off `compose run` container differs in the last.
 */
export const REPLACEMENT_LABELS = [
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  COMPOSE_CONTAINER_NUMBER_LABEL,
  COMPOSE_ONEOFF_LABEL,
] as const;

export interface PeerWatchDeps {
  docker: Docker;
  supervisor: Supervisor;
  log: pino.Logger;
  /**
   * Probes a container for the relay program its exec path runs (a replacement's image may differ);
   * null on the host's network, where nothing is relayed.
   */
  relayProgramOf: (container: ContainerInfo) => Promise<RelayProgram | null>;
}

/**
 * Pure: the labels (of REPLACEMENT_LABELS) that a replacement of the container must carry, or null
 * when it is not a Compose service's container (nothing replaces it then).
 */
export function replacementLabels(labels: Readonly<Record<string, string>>): Record<string, string> | null {
  const [project, service] = REPLACEMENT_LABELS;
  if (!labels[project] || !labels[service]) return null;
  return Object.fromEntries(
    REPLACEMENT_LABELS.flatMap((key) => (labels[key] === undefined ? [] : [[key, labels[key]]])),
  );
}

/**
 * Watches another container of the Compose project (a service whose ports were declared, "db:5432")
 * on a local engine: reads its listeners from the host as the primary's are read, so that a declared
 * port its server binds on all addresses is dialled at its IP. When it stops or restarts, nothing is
 * dialled at its old addresses until it runs again (then at its new ones); when Compose replaces it
 * with a new container of the same service, its declared ports follow that one.
 */
export class PeerWatch {
  private schedule = new ScanSchedule(PEER_FULL_SCAN_INTERVAL_MS);
  private downCheckMs = PEER_DOWN_FIRST_CHECK_MS;
  private nextDownCheck = 0;

  private constructor(
    private readonly deps: PeerWatchDeps,
    private id: string,
    private readonly replacement: Record<string, string> | null,
    private source: ListenerSource | null,
  ) {}

  /** The watched container's id: a new one once Compose has replaced the container. */
  get containerId(): string {
    return this.id;
  }

  /**
   * A watch of the container, or null where its listeners cannot be read from the host (its
   * declared ports then go through exec, as before).
   */
  static async start(deps: PeerWatchDeps, container: ContainerInfo): Promise<PeerWatch | null> {
    const source = await createListenerSource(deps.docker, container).catch(() => null);
    if (source?.kind !== 'host-proc') return null;
    const watch = new PeerWatch(deps, container.id, replacementLabels(container.labels), source);
    await watch.check(Date.now());
    return watch;
  }

  /** One change check (and a read of the tables when due); looks again at a container that is down. */
  async check(now: number): Promise<void> {
    if (this.source === null) {
      if (now >= this.nextDownCheck) await this.lookAgain(now);
      return;
    }
    try {
      if (this.schedule.due(await this.source.mayHaveChanged(), now)) {
        const listeners = await this.source.read();
        this.schedule.scanned(JSON.stringify(listeners), now);
        await this.deps.supervisor.reconcileDeclared(this.containerId, listeners);
      }
    } catch (error) {
      if (!(error instanceof ContainerGoneSignal)) {
        this.deps.log.warn({ err: error, containerId: this.containerId }, 'reading listeners failed');
        return;
      }
      this.source = null;
      this.downCheckMs = PEER_DOWN_FIRST_CHECK_MS;
      this.nextDownCheck = now + this.downCheckMs;
      await this.deps.supervisor.suspend(this.containerId);
      this.deps.log.info(
        { containerId: this.containerId },
        'service container down: its declared ports wait for it',
      );
    }
  }

  private async lookAgain(now: number): Promise<void> {
    const { docker, supervisor, log } = this.deps;
    const container = await this.findRunning();
    const source = container ? await createListenerSource(docker, container).catch(() => null) : null;
    // undefined: the same container again; null: a replacement that could not be probed.
    const probed =
      container && container.id !== this.id
        ? await this.deps.relayProgramOf(container).then(
            (relayProgram) => ({ relayProgram }),
            () => null,
          )
        : undefined;
    if (container === null || source?.kind !== 'host-proc' || probed === null) {
      this.downCheckMs = Math.min(this.downCheckMs * 2, PEER_DOWN_MAX_CHECK_MS);
      this.nextDownCheck = now + this.downCheckMs;
      return;
    }
    this.source = source;
    this.schedule = new ScanSchedule(PEER_FULL_SCAN_INTERVAL_MS);
    const directAddresses = container.ipAddresses;
    if (probed === undefined) {
      await supervisor.refresh(this.id, { directAddresses });
      log.info(
        { containerId: this.id, directAddresses },
        'service container running again: forwarding to it',
      );
    } else {
      const previous = this.id;
      this.id = container.id;
      await supervisor.retarget(previous, {
        id: container.id,
        name: container.name,
        directAddresses,
        relayProgram: probed.relayProgram,
      });
      log.info(
        { previous, containerId: container.id, directAddresses },
        'service container replaced: forwarding to the new one',
      );
    }
    await this.check(now);
  }

  /** The container, running again; else a running one of the same service that replaced it. */
  private async findRunning(): Promise<ContainerInfo | null> {
    const { docker } = this.deps;
    const running = (container: ContainerInfo | null): container is ContainerInfo =>
      container?.running === true && container.pid > 0;
    const same = await docker.inspect(this.id).catch(() => null);
    if (running(same)) return same;
    if (this.replacement === null) return null;
    const ids = await docker.listByLabels(this.replacement, false).catch(() => []);
    for (const id of ids.filter((other) => other !== this.id)) {
      const other = await docker.inspect(id).catch(() => null);
      if (running(other)) return other;
    }
    return null;
  }
}
