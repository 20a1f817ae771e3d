import type { Socket } from 'node:net';
import { errorMessage } from '../common/errors.js';
import type { StatePaths } from '../common/state-dir.js';
import type { PortAttributesLookup } from './attributes-lookup.js';
import type { ForwardConnections } from './forward-connections.js';
import type { Forward, TargetContainer } from './forward-state.js';
import { bindHostListener, type HostListener } from './host/host-listener.js';
import { namespaceBindAddress } from './relay/udp-relay.js';
import { bindUdpForwardRelay, type NativeUdpRelaySource } from './relay/udp-forward-relay.js';
import { allocatePort } from './host/registry.js';
import type { OwnEntries } from './own-entries.js';
import type { PortEntry, PortEvent, PortEventType, PortOrigin } from './port-entry.js';
import { forwardedEvent, portEvent, type EntryDraft } from './port-events.js';
import type { Log } from '../common/log.js';

export interface HostForwardsOptions {
  paths: StatePaths;
  hostAddress: string;
  attributes: PortAttributesLookup;
  emit: (event: PortEvent) => void;
  registry: OwnEntries;
  connections: ForwardConnections;
  draft: (
    target: TargetContainer,
    port: number,
    origin: PortOrigin,
    label?: string | null,
    process?: string | null,
  ) => EntryDraft;
  log: Log;
  /** True once the forwarder shuts down: a port bound after that is closed at once. */
  stopped: () => boolean;
  /** The native UDP relay for direct-path UDP forwards; absent or null: every one relays in-process. */
  nativeUdp?: NativeUdpRelaySource | null;
}

/**
 * The host side of each forward: a host port chosen in the registry and bound, the `forwarded` or
 * `failed` event, and at the end the listener withdrawn and the entry released.
 */
export class HostForwards {
  /** Listeners of withdrawn forwards that still have connections open (see stopAccepting). */
  private readonly withdrawn = new Set<HostListener>();

  constructor(private readonly options: HostForwardsOptions) {}

  async open(forward: Forward, quietFailure = false): Promise<void> {
    forward.lastAttemptAt = Date.now();
    const attributes = this.options.attributes(
      forward.port,
      forward.process,
      forward.target.service,
      forward.protocol,
    );
    const base = {
      ...this.options.draft(
        forward.target,
        forward.port,
        forward.origin,
        attributes.label ?? null,
        forward.process,
      ),
      protocol: forward.protocol,
    };
    let bound: HostListener | null = null;
    const datagrams = forward.protocol === 'udp' ? this.options.connections.datagramRouteOf(forward) : null;
    if (datagrams?.path === null) {
      if (!quietFailure) this.options.emit(portEvent('failed', base, datagrams.reason));
      return;
    }
    try {
      const result = await allocatePort(
        this.options.paths,
        {
          entry: { ...base, path: this.options.connections.routeOf(forward).path },
          requireLocalPort: attributes.requireLocalPort === true,
        },
        async (hostPort) => {
          bound =
            forward.protocol === 'udp'
              ? await this.bindDatagrams(forward, hostPort)
              : await bindHostListener(
                  hostPort,
                  (socket: Socket) => this.options.connections.accept(forward, socket),
                  this.options.hostAddress,
                );
          return bound !== null;
        },
        this.options.registry.registryOptions,
      );
      if (this.options.stopped()) {
        await (bound as HostListener | null)?.close();
        return;
      }
      if (!result.ok) {
        if (!quietFailure) this.options.emit(portEvent('failed', base, result.reason));
        return;
      }
      const entry: PortEntry = { ...result.entry, urlScheme: attributes.protocol ?? null };
      forward.entry = entry;
      forward.listener = bound;
      this.options.emit(forwardedEvent(entry, attributes));
    } catch (error) {
      await (bound as HostListener | null)?.close();
      if (!quietFailure) this.options.emit(portEvent('failed', base, errorMessage(error)));
    }
  }

  /** A UDP forward's host sockets: each datagram goes where the forward's route says now. */
  private bindDatagrams(forward: Forward, hostPort: number): Promise<HostListener | null> {
    const { connections } = this.options;
    return bindUdpForwardRelay(
      {
        port: hostPort,
        bindAddress: this.options.hostAddress,
        target: () => {
          const route = connections.datagramRouteOf(forward);
          if (route.path === null) return null;
          if (route.path === 'direct') return { address: route.address, port: forward.port };
          // The server's address inside the container: never sent to from the host itself.
          const { netns, mux } = forward.target;
          if (route.path === 'mux') {
            return mux === null
              ? null
              : {
                  address: route.address,
                  port: forward.port,
                  open: (address) => mux.datagramSession(address, forward.port),
                };
          }
          if (netns === null) return null;
          return {
            address: route.address,
            port: forward.port,
            open: (address) => netns.datagramSocket(namespaceBindAddress(address)),
          };
        },
        log: this.options.log,
      },
      this.options.nativeUdp ?? null,
    );
  }

  async close(forward: Forward, type: PortEventType, reason: string, release = true): Promise<void> {
    if (forward.listener) this.stopAccepting(forward.listener);
    forward.listener = null;
    const entry = forward.entry;
    forward.entry = null;
    if (!entry) return;
    if (release) await this.options.registry.release(entry);
    this.options.emit(portEvent(type, entry, reason));
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

  /** A forwarder going away ends every connection, those of forwards withdrawn earlier too. */
  async closeWithdrawn(): Promise<void> {
    await Promise.all([...this.withdrawn].map((listener) => listener.close()));
  }
}
