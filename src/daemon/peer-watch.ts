import type pino from 'pino';
import {
  ContainerGoneSignal,
  createListenerSource,
  type ListenerSource,
} from '../forwarding/listener-source.js';
import type { Supervisor } from '../forwarding/supervisor.js';
import type { Docker } from '../runtime/docker.js';
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
 * Watches another container of the Compose project (a service whose ports were declared, "db:5432")
 * on a local engine: reads its listeners from the host as the primary's are read, so that a declared
 * port its server binds on all addresses is dialled at its IP. When it stops or restarts, nothing is
 * dialled at its old addresses until it runs again (then at its new ones).
 */
export class PeerWatch {
  private schedule = new ScanSchedule(PEER_FULL_SCAN_INTERVAL_MS);
  private downCheckMs = PEER_DOWN_FIRST_CHECK_MS;
  private nextDownCheck = 0;

  private constructor(
    private readonly deps: { docker: Docker; supervisor: Supervisor; log: pino.Logger },
    readonly containerId: string,
    private source: ListenerSource | null,
  ) {}

  /**
   * A watch of the container whose init process is `pid`, or null where its listeners cannot be
   * read from the host (its declared ports then go through exec, as before).
   */
  static async start(
    deps: { docker: Docker; supervisor: Supervisor; log: pino.Logger },
    containerId: string,
    pid: number,
  ): Promise<PeerWatch | null> {
    const source = await createListenerSource(deps.docker, containerId, pid).catch(() => null);
    if (source?.kind !== 'host-proc') return null;
    const watch = new PeerWatch(deps, containerId, source);
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
    const container = await docker.inspect(this.containerId).catch(() => null);
    const source =
      container?.running && container.pid > 0
        ? await createListenerSource(docker, this.containerId, container.pid).catch(() => null)
        : null;
    if (container === null || source?.kind !== 'host-proc') {
      this.downCheckMs = Math.min(this.downCheckMs * 2, PEER_DOWN_MAX_CHECK_MS);
      this.nextDownCheck = now + this.downCheckMs;
      return;
    }
    this.source = source;
    this.schedule = new ScanSchedule(PEER_FULL_SCAN_INTERVAL_MS);
    await supervisor.refresh(this.containerId, { directAddresses: container.ipAddresses });
    log.info(
      { containerId: this.containerId, directAddresses: container.ipAddresses },
      'service container running again: forwarding to it',
    );
    await this.check(now);
  }
}
