import { statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { errorMessage } from '../common/errors.js';
import type { StatePaths } from '../common/state-dir.js';
import type { Docker } from '../runtime/docker.js';
import type { PublishedPort } from '../runtime/published-ports.js';
import { bindHostListener, type HostListener } from './host-listener.js';
import type { OnDemandAgent } from './agent-on-demand.js';
import type { PortAttributesLookup } from './attributes-lookup.js';
import type { PortEntry, PortEvent, PortEventType, PortOrigin, RelayPath } from './port-entry.js';
import type { BindScope, PortListener } from './proc-net-tcp.js';
import { allocatePort, releasePorts, updateEntries, type RegistryOptions } from './registry.js';
import type { RelayProgram } from './relay-program.js';
import { relayTargetOf, route, type Route } from './route.js';
import { relayConnection, type RelayTarget } from './relay.js';
import type { SocketOwnerFinder } from './socket-owners.js';

/** A detected listener absent from this many consecutive reads is withdrawn… */
export const WITHDRAW_AFTER_MISSED_READS = 2;
/**
 * …and only once it has been absent this long. A dev server that restarts (a watcher reloading it)
 * is gone for a moment; when reads come fast (many connections move the socket counters), two
 * misses alone would withdraw and re-forward it, flapping events and maybe losing its host port.
 * Shorter than the 2 s full-read interval, so the first full read after the first miss withdraws it:
 * a listener gone for good goes within ~2.5 s.
 */
export const WITHDRAW_GRACE_MS = 1_500;
/** At most this many detected ports are auto-forwarded; declared ports do not count. */
export const AUTO_FORWARD_CAP = 20;
/** A port whose host port could not be had is tried again this often, quietly. */
export const RETRY_FAILED_MS = 5_000;
const RELAY_DRAIN_MS = 2_000;

/** A container whose ports this forwarder serves. */
export interface TargetContainer {
  id: string;
  name: string;
  service: string | null;
  /** Addresses the host can dial directly, or empty when it cannot (remote or VM-backed engine). */
  directAddresses: string[];
  /** What its exec path runs; null on the host's network, where nothing is relayed (none was looked for). */
  relayProgram: RelayProgram | null;
  /** The in-container relay agent for loopback-bound servers, when one can run (started on demand). */
  agent: OnDemandAgent | null;
  /**
   * It runs in the host's own network namespace (network mode `host`): its servers already listen on
   * the host, at their own ports, and the forwarder's listeners would show up as its own.
   */
  hostNetwork: boolean;
  /** Its ports that the engine itself publishes on the host (appPort, `-p`, Compose `ports`). */
  publishedPorts: readonly PublishedPort[];
}

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
  log: (message: string, fields?: Record<string, unknown>) => void;
}

interface Forward {
  target: TargetContainer;
  port: number;
  origin: PortOrigin;
  scope: BindScope;
  dialAddress: string;
  process: string | null;
  entry: PortEntry | null;
  listener: HostListener | null;
  missedReads: number;
  /** When the first of the current run of missed reads happened. */
  missingSince: number;
  lastAttemptAt: number;
  /** The listener's socket inodes, as last read. */
  sockets?: string;
  /** A direct dial at the container's IPv4 address was refused by these sockets: IPv6-only. */
  ipv4Refused?: boolean;
}

/** Keeps the host's forwards equal to what is wanted: the declared ports plus the detected listeners. */
export class Supervisor {
  private readonly forwards = new Map<string, Forward>();
  private readonly relays = new Set<Promise<void>>();
  /** Listeners of withdrawn forwards that still have connections open (see stopAccepting). */
  private readonly withdrawn = new Set<HostListener>();
  private limitReported = false;
  /** Published ports already said not to be forwarded again. */
  private readonly publishedReported = new Set<number>();
  /** Socket inodes whose owner was already looked up: only new sockets cost a lookup. */
  private knownInodes = new Set<number>();
  private readonly ownerByInode = new Map<number, string>();
  private stopped = false;

  private readonly registryOptions: RegistryOptions;
  /** The registry's inode when this forwarder's entries were last found right in it. */
  private registryInode = UNCHECKED;

  /** The other containers by id; an id changes when its service's container is replaced. */
  private readonly others: Map<string, TargetContainer>;

  constructor(private readonly options: SupervisorOptions) {
    this.registryOptions = { onWarning: (message) => options.log(message) };
    this.others = new Map(options.others);
  }

  /** The forwards with a host port, as registry entries. */
  entries(): PortEntry[] {
    return [...this.forwards.values()].flatMap((f) => (f.entry ? [f.entry] : []));
  }

  /** Forwards one declared port (eagerly: before anything listens on it). */
  async declare(containerId: string, port: number): Promise<void> {
    const target = this.targetById(containerId);
    if (!target) throw new Error(`no container ${containerId} among this forwarder's targets`);
    if (target.hostNetwork) {
      // A forward would take the host port from the server itself, and relay to itself.
      const reason = `container ${target.name} uses the host's network (network mode host): its server for port ${port} listens on the host at port ${port} itself, so the port is not forwarded (a forward would take the port from it)`;
      this.options.emit(this.event('failed', this.placeholder(target, port, 'declared'), reason));
      return;
    }
    const forward: Forward = {
      target,
      port,
      origin: 'declared',
      scope: 'loopback',
      dialAddress: '127.0.0.1',
      process: null,
      entry: null,
      listener: null,
      missedReads: 0,
      missingSince: 0,
      lastAttemptAt: 0,
    };
    this.forwards.set(keyOf(target.id, port), forward);
    await this.open(forward);
  }

  private targetById(containerId: string): TargetContainer | undefined {
    return containerId === this.options.primary.id ? this.options.primary : this.others.get(containerId);
  }

  /** Brings the forwards in line with one read of the primary container's listeners. */
  async reconcile(read: readonly PortListener[]): Promise<void> {
    const primary = this.options.primary;
    // On the host's network the listeners are the host's own (ours among them): none is the
    // container's to forward.
    if (primary.hostNetwork) this.reportHostNetwork(read[0]?.port);
    const listeners = primary.hostNetwork ? [] : read;
    const seen = new Set<number>();
    await this.lookUpOwners(listeners);
    for (const listener of listeners) {
      if (primary.agent?.owns(listener.sockets)) continue;
      if (this.publishedByEngine(primary, listener.port)) continue;
      seen.add(listener.port);
      const key = keyOf(primary.id, listener.port);
      const existing = this.forwards.get(key);
      const processLine = this.ownerOf(listener);
      if (existing) {
        existing.missedReads = 0;
        await this.refreshDial(existing, listener, processLine);
        if (!existing.entry && Date.now() - existing.lastAttemptAt >= RETRY_FAILED_MS) {
          await this.open(existing, true);
        }
        continue;
      }
      const attributes = this.options.attributes(listener.port, processLine, null);
      if (attributes.onAutoForward === 'ignore') continue;
      if (this.detectedCount() >= AUTO_FORWARD_CAP) {
        this.reportCap(listener.port);
        continue;
      }
      const forward: Forward = {
        target: primary,
        port: listener.port,
        origin: 'detected',
        scope: listener.scope,
        dialAddress: listener.dialAddress,
        process: processLine,
        entry: null,
        listener: null,
        missedReads: 0,
        missingSince: 0,
        lastAttemptAt: 0,
        sockets: socketsOf(listener),
      };
      this.forwards.set(key, forward);
      await this.open(forward);
    }
    for (const [key, forward] of this.forwards) {
      if (forward.origin !== 'detected' || forward.target !== primary || seen.has(forward.port)) continue;
      forward.missedReads += 1;
      if (forward.missedReads === 1) forward.missingSince = Date.now();
      if (
        forward.missedReads >= WITHDRAW_AFTER_MISSED_READS &&
        Date.now() - forward.missingSince >= WITHDRAW_GRACE_MS
      ) {
        this.forwards.delete(key);
        await this.close(forward, 'withdrawn', 'the server in the container stopped listening');
      }
    }
    await this.keepRegistered();
  }

  /**
   * Puts this forwarder's forwards back into the registry when they went missing from it (a damaged
   * registry set aside and rebuilt, the state dir deleted), and drops its entries for forwards it no
   * longer has (a release that failed while the state dir was read-only). Looked at only when the
   * file changed: every registry write makes a new inode, and a stat costs microseconds. Entries are
   * compared by identity only, so two forwarders never rewrite the file back and forth.
   */
  private async keepRegistered(): Promise<void> {
    const inode = inodeOf(this.options.paths.registry);
    if (this.stopped || inode === this.registryInode) return;
    const { pid } = this.options.forwarder;
    const own = this.entries();
    try {
      await updateEntries(
        this.options.paths,
        (entries) => {
          const mine = entries.filter((e) => e.forwarderPid === pid);
          if (identities(mine) === identities(own)) return entries;
          const others = entries.filter((e) => e.forwarderPid !== pid);
          const taken = new Set(others.map((e) => e.hostPort));
          return [...others, ...own.filter((e) => !taken.has(e.hostPort))];
        },
        this.registryOptions,
      );
      this.registryInode = inodeOf(this.options.paths.registry);
    } catch (error) {
      this.options.log("could not check this forwarder's registry entries", { error: errorMessage(error) });
    }
  }

  /**
   * After a target container restarted: its addresses may be new, and its relay agent died with it.
   * Forwards keep their host ports and point at the container as it is now; the old agent is closed.
   */
  async refresh(
    containerId: string,
    fresh: Partial<Pick<TargetContainer, 'directAddresses' | 'relayProgram' | 'agent'>>,
  ): Promise<void> {
    const target = this.targetById(containerId);
    if (!target) return;
    const previous = target.agent;
    target.directAddresses = fresh.directAddresses ?? target.directAddresses;
    target.relayProgram = fresh.relayProgram ?? target.relayProgram;
    target.agent = fresh.agent === undefined ? target.agent : fresh.agent;
    if (previous && previous !== target.agent) await previous.close();
  }

  /**
   * While a target container is down (it may be restarting): its addresses may go to another
   * container meanwhile, so nothing is dialled at them, and its relay agent is ended. Connections
   * take the exec path, which fails fast while the container is down; refresh() undoes this.
   */
  async suspend(containerId: string): Promise<void> {
    await this.refresh(containerId, { directAddresses: [], agent: null });
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
    const target = this.others.get(containerId);
    if (!target || fresh.id === containerId) return;
    this.others.delete(containerId);
    Object.assign(target, fresh);
    this.others.set(target.id, target);
    for (const [key, forward] of [...this.forwards]) {
      if (forward.target !== target) continue;
      this.forwards.delete(key);
      this.forwards.set(keyOf(target.id, forward.port), forward);
      if (forward.entry)
        forward.entry = { ...forward.entry, containerId: target.id, containerName: target.name };
    }
    this.registryInode = UNCHECKED;
    await this.keepRegistered();
  }

  /**
   * Brings the declared forwards into another container (a Compose service's) in line with one read
   * of its listeners: a declared port whose server listens on all addresses is dialled directly
   * (no exec per connection); one bound to the container's loopback goes on through exec.
   */
  async reconcileDeclared(containerId: string, read: readonly PortListener[]): Promise<void> {
    const byPort = new Map(read.map((listener) => [listener.port, listener]));
    for (const forward of this.forwards.values()) {
      if (forward.target.id !== containerId || forward.origin !== 'declared') continue;
      const listener = byPort.get(forward.port);
      if (listener) await this.refreshDial(forward, listener, forward.process);
    }
  }

  /** Closes every forward and releases this forwarder's registry entries. */
  async shutdown(reason: string): Promise<void> {
    this.stopped = true;
    const all = [...this.forwards.values()];
    this.forwards.clear();
    await Promise.all(all.map((f) => this.close(f, 'withdrawn', reason, false)));
    // A forwarder going away ends every connection, those of forwards withdrawn earlier too.
    await Promise.all([...this.withdrawn].map((listener) => listener.close()));
    const { pid } = this.options.forwarder;
    await releasePorts(this.options.paths, (entry) => entry.forwarderPid === pid, this.registryOptions).catch(
      (error: unknown) =>
        this.options.log('could not release registry entries', { error: errorMessage(error) }),
    );
    await Promise.race([Promise.allSettled([...this.relays]), delay(RELAY_DRAIN_MS)]);
    const targets = [this.options.primary, ...this.others.values()];
    await Promise.all(targets.map((target) => target.agent?.close()));
  }

  private async lookUpOwners(listeners: readonly PortListener[]): Promise<void> {
    const current = new Set(listeners.flatMap((l) => l.sockets.map((socket) => socket.inode)));
    const fresh = new Set([...current].filter((inode) => !this.knownInodes.has(inode)));
    for (const inode of this.ownerByInode.keys()) if (!current.has(inode)) this.ownerByInode.delete(inode);
    this.knownInodes = current;
    if (fresh.size === 0 || !this.options.owners) return;
    for (const [inode, commandLine] of await this.options.owners.find(fresh))
      this.ownerByInode.set(inode, commandLine);
  }

  private ownerOf(listener: PortListener): string | null {
    for (const socket of listener.sockets) {
      const owner = this.ownerByInode.get(socket.inode);
      if (owner !== undefined) return owner;
    }
    return null;
  }

  private detectedCount(): number {
    let count = 0;
    for (const f of this.forwards.values()) if (f.origin === 'detected') count += 1;
    return count;
  }

  private reportHostNetwork(port: number | undefined): void {
    if (this.limitReported || port === undefined) return;
    this.limitReported = true;
    const reason = `container ${this.options.primary.name} uses the host's network (network mode host): its servers already listen on the host at their own ports, so none is auto-forwarded`;
    this.options.emit(this.event('failed', this.placeholder(this.options.primary, port, 'detected'), reason));
  }

  /** True when the engine publishes the port on the host itself; says so once per port. */
  private publishedByEngine(target: TargetContainer, port: number): boolean {
    const published = target.publishedPorts.filter((p) => p.protocol === 'tcp' && p.containerPort === port);
    if (published.length === 0) return false;
    if (this.publishedReported.has(port)) return true;
    this.publishedReported.add(port);
    const where = published.map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort ?? '?'}`).join(', ');
    const reason = `port ${port} is published by the engine itself at ${where} (appPort, docker run -p or Compose ports): it is reachable there already, so it is not forwarded a second time`;
    this.options.emit(this.event('failed', this.placeholder(target, port, 'detected'), reason));
    return true;
  }

  private reportCap(port: number): void {
    if (this.limitReported) return;
    this.limitReported = true;
    const reason = `more than ${AUTO_FORWARD_CAP} ports listen in the container; port ${port} and later ones are not auto-forwarded (declare the ones you need with forwardPorts or --forward-port)`;
    this.options.emit(this.event('failed', this.placeholder(this.options.primary, port, 'detected'), reason));
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
      forward.entry?.path === this.routeOf(forward).path
    ) {
      return;
    }
    forward.scope = listener.scope;
    forward.dialAddress = listener.dialAddress;
    forward.process = processLine;
    await this.updateEntry(forward);
  }

  /** Writes a forward's path and process to its registry entry when they changed. */
  private async updateEntry(forward: Forward): Promise<void> {
    const entry = forward.entry;
    if (!entry) return;
    const path = this.routeOf(forward).path;
    if (entry.path === path && entry.process === forward.process) return;
    entry.path = path;
    entry.process = forward.process;
    await updateEntries(
      this.options.paths,
      (entries) =>
        entries.map((e) =>
          e.forwarderPid === entry.forwarderPid && e.hostPort === entry.hostPort ? { ...entry } : e,
        ),
      this.registryOptions,
    ).catch((error: unknown) => {
      this.registryInode = UNCHECKED;
      this.options.log('could not update registry entry', { error: errorMessage(error) });
    });
  }

  private async open(forward: Forward, quietFailure = false): Promise<void> {
    forward.lastAttemptAt = Date.now();
    const attributes = this.options.attributes(forward.port, forward.process, forward.target.service);
    const base = this.placeholder(
      forward.target,
      forward.port,
      forward.origin,
      attributes.label ?? null,
      forward.process,
    );
    let bound: HostListener | null = null;
    try {
      const result = await allocatePort(
        this.options.paths,
        {
          entry: { ...base, path: this.routeOf(forward).path },
          requireLocalPort: attributes.requireLocalPort === true,
        },
        async (hostPort) => {
          bound = await bindHostListener(
            hostPort,
            (socket) => this.accept(forward, socket),
            this.options.hostAddress,
          );
          return bound !== null;
        },
        this.registryOptions,
      );
      if (this.stopped) {
        await (bound as HostListener | null)?.close();
        return;
      }
      if (!result.ok) {
        if (!quietFailure) this.options.emit(this.event('failed', base, result.reason));
        return;
      }
      const entry: PortEntry = { ...result.entry, urlScheme: attributes.protocol ?? null };
      forward.entry = entry;
      forward.listener = bound;
      const notify = attributes.onAutoForward !== 'silent';
      // portpilot never elevates; the port is still forwarded, and the event says where.
      const note =
        attributes.elevateIfNeeded && entry.allocation === 'remapped-privileged'
          ? `elevateIfNeeded is set, but portpilot does not elevate: port ${entry.containerPort} is on host port ${entry.hostPort}`
          : undefined;
      this.options.emit({
        ...this.event('forwarded', entry, note),
        notify,
        ...(attributes.onAutoForward ? { onAutoForward: attributes.onAutoForward } : {}),
      });
    } catch (error) {
      await (bound as HostListener | null)?.close();
      if (!quietFailure) this.options.emit(this.event('failed', base, errorMessage(error)));
    }
  }

  private async close(forward: Forward, type: PortEventType, reason: string, release = true): Promise<void> {
    if (forward.listener) this.stopAccepting(forward.listener);
    forward.listener = null;
    const entry = forward.entry;
    forward.entry = null;
    if (!entry) return;
    if (release) {
      await releasePorts(
        this.options.paths,
        (e) => e.forwarderPid === entry.forwarderPid && e.hostPort === entry.hostPort,
        this.registryOptions,
      ).catch((error: unknown) => {
        this.registryInode = UNCHECKED;
        this.options.log('could not release a registry entry', { error: errorMessage(error) });
      });
    }
    this.options.emit(this.event(type, entry, reason));
  }

  /**
   * A withdrawn forward's listener stops accepting, and its registry entry goes with it: the port is
   * no longer forwarded. Connections already open live on until one of their ends closes them (a
   * debugger session whose server stopped listening once it had its client); shutdown() ends them.
   */
  private stopAccepting(listener: HostListener): void {
    this.withdrawn.add(listener);
    void listener.withdraw().then(() => this.withdrawn.delete(listener));
  }

  private accept(forward: Forward, socket: Socket): void {
    let target: RelayTarget;
    try {
      target = this.targetFor(forward);
    } catch (error) {
      this.options.log('relay failed', { port: forward.port, error: errorMessage(error) });
      socket.destroy();
      return;
    }
    const relay = relayConnection(socket, target, {
      docker: this.options.docker,
      onError: (message, error) =>
        this.options.log(message, {
          port: forward.port,
          error: error === undefined ? undefined : errorMessage(error),
        }),
    }).catch((error: unknown) =>
      this.options.log('relay failed', { port: forward.port, error: errorMessage(error) }),
    );
    this.relays.add(relay);
    void relay.finally(() => this.relays.delete(relay));
  }

  /** How the forward's connections reach its server now (see route). */
  private routeOf(forward: Forward): Route {
    return route({
      forced: this.options.relayPath,
      listener: forward,
      directAddresses: forward.target.directAddresses,
      agentUsable: forward.target.agent?.usable === true,
      ipv4Refused: forward.ipv4Refused === true,
    });
  }

  private targetFor(forward: Forward): RelayTarget {
    // Refused there, the `::` socket is IPv6-only: this connection, and the next ones, go on to ::1
    // inside the container, until the port has another socket.
    const sockets = forward.sockets;
    const onRefused = () => {
      if (forward.ipv4Refused || forward.sockets !== sockets) return;
      forward.ipv4Refused = true;
      this.options.log(
        `port ${forward.port} listens on '::' for IPv6 only, which the container's IPv4 address does not reach: its connections go to [::1] inside the container`,
        { port: forward.port },
      );
      void this.updateEntry(forward);
    };
    const { target } = forward;
    return relayTargetOf(this.routeOf(forward), {
      containerId: target.id,
      containerName: target.name,
      port: forward.port,
      dialAddress: forward.dialAddress,
      relayProgram: target.relayProgram,
      agent: target.agent,
      onRefused,
    });
  }

  private placeholder(
    target: TargetContainer,
    port: number,
    origin: PortOrigin,
    label: string | null = null,
    process: string | null = null,
  ): Omit<PortEntry, 'hostPort' | 'allocation' | 'path'> {
    return {
      containerId: target.id,
      containerName: target.name,
      service: target.service,
      containerPort: port,
      hostAddress: this.options.hostAddress,
      protocol: 'tcp',
      origin,
      label,
      process,
      forwarderPid: this.options.forwarder.pid,
      forwarderStartTime: this.options.forwarder.startTime,
      since: new Date().toISOString(),
    };
  }

  private event(
    type: PortEventType,
    entry: Omit<PortEntry, 'hostPort' | 'allocation' | 'path'> &
      Partial<Pick<PortEntry, 'hostPort' | 'allocation' | 'path'>>,
    reason?: string,
  ): PortEvent {
    const { forwarderStartTime: _ignored, ...rest } = entry;
    return {
      ...rest,
      hostPort: entry.hostPort ?? null,
      allocation: entry.allocation ?? null,
      path: entry.path ?? null,
      type,
      at: new Date().toISOString(),
      ...(reason === undefined ? {} : { reason }),
    };
  }
}

const UNCHECKED = -1;

/** The registry file's inode, or 0 when there is none. */
function inodeOf(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}

/** Which forwards a set of entries records, in a comparable form. */
function identities(entries: readonly PortEntry[]): string {
  return entries
    .map((e) => `${e.containerId}:${e.containerPort}:${e.hostPort}`)
    .sort()
    .join(',');
}

/** A listener's socket inodes, in a comparable form: another value means another socket. */
function socketsOf(listener: PortListener): string {
  return listener.sockets.map((socket) => socket.inode).join(',');
}

function keyOf(containerId: string, port: number): string {
  return `${containerId}:${port}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
