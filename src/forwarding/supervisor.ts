import type { StatePaths } from '../common/state-dir.js';
import type { Docker } from '../runtime/docker.js';
import { HostForwards } from './host-forwards.js';
import type { PortAttributesLookup } from './attributes-lookup.js';
import { ForwardConnections } from './forward-connections.js';
import { ForwardTargets } from './forward-targets.js';
import { declaredRefusal, plan, type PlanAction } from './forward-plan.js';
import { keyOf, newForward, socketsOf, type Forward, type TargetContainer } from './forward-state.js';
import { OwnEntries } from './own-entries.js';
import { SocketOwnerCache } from './detect/owner-cache.js';
import type { PortEntry, PortEvent, Protocol, RelayPath } from './port-entry.js';
import { entryDraft, portEvent } from './port-events.js';
import type { PortListener } from './detect/proc-net-tcp.js';
import type { SocketOwnerFinder } from './detect/socket-owners.js';
import type { Log } from '../common/log.js';
import type { NativeUdpRelaySource } from './relay/udp-forward-relay.js';

export type { TargetContainer } from './forward-state.js';

const RELAY_DRAIN_MS = 2_000;

export interface SupervisorOptions {
  paths: StatePaths;
  docker: Docker;
  primary: TargetContainer;
  /** Extra containers (Compose services) that declared ports are dialled in, by id. */
  others: ReadonlyMap<string, TargetContainer>;
  attributes: PortAttributesLookup;
  /** Finds the command line owning a socket, for the `process` field and regex attribute keys. */
  owners: SocketOwnerFinder | null;
  relayPath: RelayPath | null;
  hostAddress: string;
  forwarder: { pid: number; startTime: number };
  emit: (event: PortEvent) => void;
  log: Log;
  /** For direct-path UDP forwards (udp-forward-relay.ts); absent: in-process. */
  nativeUdp?: NativeUdpRelaySource | null;
}

/**
 * Keeps the host's forwards equal to what is wanted: the declared ports plus the detected listeners.
 * What a read asks for is decided by plan() (forward-plan.ts); this carries it out: host listeners,
 * registry entries, relays and events.
 */
export class Supervisor {
  private readonly forwards = new Map<string, Forward>();
  /** Per protocol: the cap said once, and published ports already said not to be forwarded again. */
  private readonly reported = new Map<Protocol, { limit: boolean; published: ReadonlySet<number> }>();
  private readonly owners: SocketOwnerCache;
  private readonly registry: OwnEntries;
  private readonly connections: ForwardConnections;
  private readonly host: HostForwards;
  private stopped = false;

  private readonly targets: ForwardTargets;

  constructor(private readonly options: SupervisorOptions) {
    this.targets = new ForwardTargets(options.primary, options.others);
    this.owners = new SocketOwnerCache(options.owners);
    this.registry = new OwnEntries(options.paths, options.forwarder.pid, options.log);
    this.connections = new ForwardConnections({
      docker: options.docker,
      relayPath: options.relayPath,
      log: options.log,
      onPathLearned: (forward) => void this.updateEntry(forward),
    });
    this.host = new HostForwards({
      ...options,
      registry: this.registry,
      connections: this.connections,
      draft: (...args) => entryDraft(options, ...args),
      stopped: () => this.stopped,
    });
  }

  /** The forwards with a host port, as registry entries. */
  entries(): PortEntry[] {
    return [...this.forwards.values()].flatMap((f) => (f.entry ? [f.entry] : []));
  }

  /** Forwards one declared port (eagerly: before anything listens on it). */
  async declare(containerId: string, port: number, protocol: Protocol = 'tcp'): Promise<void> {
    const target = this.targets.byId(containerId);
    if (!target) throw new Error(`no container ${containerId} among this forwarder's targets`);
    const refusal = declaredRefusal(target, port);
    if (refusal !== null) {
      this.options.emit(
        portEvent('failed', { ...entryDraft(this.options, target, port, 'declared'), protocol }, refusal),
      );
      return;
    }
    const forward = newForward(target, port, 'declared', null, null, protocol);
    this.forwards.set(keyOf(target.id, port, protocol), forward);
    await this.host.open(forward);
  }

  /**
   * Brings the forwards in line with one read of the primary container's listeners (see plan), TCP
   * and UDP planned apart: a port's TCP and UDP forwards are two.
   */
  async reconcile(read: readonly PortListener[]): Promise<void> {
    const primary = this.options.primary;
    await this.owners.lookUp(primary.hostNetwork ? [] : read);
    await this.reconcileProtocol(
      'tcp',
      read.filter((l) => (l.protocol ?? 'tcp') === 'tcp'),
    );
    // On the host's network the TCP plan says once that nothing is forwarded.
    await this.reconcileProtocol('udp', primary.hostNetwork ? [] : read.filter((l) => l.protocol === 'udp'));
    await this.keepRegistered();
  }

  private async reconcileProtocol(protocol: Protocol, read: readonly PortListener[]): Promise<void> {
    const primary = this.options.primary;
    const now = Date.now();
    const reported = this.reported.get(protocol) ?? { limit: false, published: new Set<number>() };
    const forwards = [...this.forwards.values()].filter(
      (f) => f.target === primary && f.protocol === protocol,
    );
    const next = plan(
      {
        container: primary,
        forwards: forwards.map((f) => ({ ...f, open: f.entry !== null })),
        limitReported: reported.limit,
        publishedReported: reported.published,
      },
      // On the host's network nothing read is forwarded (see plan): nothing is looked up for it.
      read.map((listener) => {
        const process = primary.hostNetwork ? null : this.owners.ownerOf(listener);
        return {
          listener,
          process,
          agents: !primary.hostNetwork && primary.agent?.owns(listener.sockets) === true,
          ignored:
            !primary.hostNetwork &&
            this.options.attributes(listener.port, process, null, protocol).onAutoForward === 'ignore',
        };
      }),
      now,
    );
    this.reported.set(protocol, { limit: next.limitReported, published: next.publishedReported });
    for (const action of next.actions) await this.carryOut(action, protocol);
  }

  private async carryOut(action: PlanAction, protocol: Protocol): Promise<void> {
    const primary = this.options.primary;
    if (action.type === 'fail') {
      const draft = { ...entryDraft(this.options, primary, action.port, 'detected'), protocol };
      this.options.emit(portEvent('failed', draft, action.reason));
      return;
    }
    if (action.type === 'open') {
      const forward = newForward(primary, action.listener.port, 'detected', action.listener, action.process);
      this.forwards.set(keyOf(primary.id, forward.port, protocol), forward);
      await this.host.open(forward);
      return;
    }
    const key = keyOf(primary.id, action.port, protocol);
    const forward = this.forwards.get(key);
    if (!forward) return;
    switch (action.type) {
      case 'keep':
        forward.missedReads = 0;
        await this.refreshDial(forward, action.listener, action.process);
        return;
      case 'retry':
        await this.host.open(forward, true);
        return;
      case 'miss':
        forward.missedReads = action.missedReads;
        forward.missingSince = action.missingSince;
        return;
      case 'withdraw':
        this.forwards.delete(key);
        await this.host.close(forward, 'withdrawn', action.reason);
        return;
    }
  }

  /** See OwnEntries.keep. */
  private async keepRegistered(): Promise<void> {
    if (!this.stopped) await this.registry.keep(this.entries());
  }

  /**
   * After a target container restarted: its addresses may be new, and its relay agent died with it.
   * Forwards keep their host ports and point at the container as it is now; the old agent is closed.
   */
  async refresh(
    containerId: string,
    fresh: Partial<Pick<TargetContainer, 'directAddresses' | 'relayProgram' | 'agent' | 'netns' | 'mux'>>,
  ): Promise<void> {
    await this.targets.refresh(containerId, fresh);
  }

  /**
   * While a target container is down (it may be restarting): its addresses may go to another
   * container meanwhile, so nothing is dialled at them, and its relay agent and mux channel are ended. Connections
   * take the exec path, which fails fast while the container is down; refresh() undoes this.
   * Its namespace helper is ended too: the namespace goes with the container.
   */
  async suspend(containerId: string): Promise<void> {
    await this.refresh(containerId, { directAddresses: [], agent: null, netns: null, mux: null });
  }

  /**
   * Another container was replaced by a new one of the same Compose service (recreated: a new id,
   * perhaps a new image and new addresses). Its forwards keep their host ports and go to the new
   * container; the registry shows its id and name.
   */
  async retarget(
    containerId: string,
    fresh: Pick<TargetContainer, 'id' | 'name' | 'directAddresses' | 'relayProgram'>,
  ): Promise<void> {
    const target = this.targets.replace(containerId, fresh);
    if (!target) return;
    for (const [key, forward] of [...this.forwards]) {
      if (forward.target !== target) continue;
      this.forwards.delete(key);
      this.forwards.set(keyOf(target.id, forward.port, forward.protocol), forward);
      if (forward.entry)
        forward.entry = { ...forward.entry, containerId: target.id, containerName: target.name };
    }
    this.registry.recheck();
    await this.keepRegistered();
  }

  /**
   * Brings the declared forwards into another container (a Compose service's) in line with one read
   * of its listeners: a declared port whose server listens on all addresses is dialled directly
   * (no exec per connection); one bound to the container's loopback goes on through exec.
   */
  async reconcileDeclared(containerId: string, read: readonly PortListener[]): Promise<void> {
    const byPort = new Map(
      read.map((listener) => [`${listener.port}/${listener.protocol ?? 'tcp'}`, listener]),
    );
    for (const forward of this.forwards.values()) {
      if (forward.target.id !== containerId || forward.origin !== 'declared') continue;
      const listener = byPort.get(`${forward.port}/${forward.protocol}`);
      if (listener) await this.refreshDial(forward, listener, forward.process);
    }
  }

  /** Closes every forward and releases this forwarder's registry entries. */
  async shutdown(reason: string): Promise<void> {
    this.stopped = true;
    const all = [...this.forwards.values()];
    this.forwards.clear();
    await Promise.all(all.map((f) => this.host.close(f, 'withdrawn', reason, false)));
    await this.host.closeWithdrawn();
    await this.registry.releaseAll();
    await this.connections.drain(RELAY_DRAIN_MS);
    await this.targets.closeRelays();
  }

  private async refreshDial(
    forward: Forward,
    listener: PortListener,
    processLine: string | null,
  ): Promise<void> {
    // A new socket on the port (a restarted server) may be bound differently: dial it afresh.
    const sockets = socketsOf(listener);
    if (forward.sockets !== sockets) {
      forward.sockets = sockets;
      forward.ipv4Refused = false;
    }
    // The path can change with the listener's binding, or when the relay agent cannot run after all.
    if (
      forward.scope === listener.scope &&
      forward.dialAddress === listener.dialAddress &&
      forward.process === processLine &&
      forward.entry?.path === this.connections.routeOf(forward).path
    ) {
      return;
    }
    forward.scope = listener.scope;
    forward.dialAddress = listener.dialAddress;
    forward.process = processLine;
    // A UDP server that turns out bound where no path reaches it (its loopback) loses its forward;
    // it is tried again with the plan's retries, should it come back bound otherwise.
    const datagrams = forward.protocol === 'udp' ? this.connections.datagramRouteOf(forward) : null;
    if (datagrams?.path === null) {
      await this.host.close(forward, 'failed', datagrams.reason);
      return;
    }
    await this.updateEntry(forward);
  }

  /** Writes a forward's path and process to its registry entry when they changed. */
  private async updateEntry(forward: Forward): Promise<void> {
    const entry = forward.entry;
    if (!entry) return;
    const path = this.connections.routeOf(forward).path;
    if (entry.path === path && entry.process === forward.process) return;
    entry.path = path;
    entry.process = forward.process;
    await this.registry.update(entry);
  }
}
