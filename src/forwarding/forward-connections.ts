import type { Socket } from 'node:net';
import { errorMessage } from '../common/errors.js';
import type { Docker } from '../runtime/docker.js';
import type { Forward } from './forward-state.js';
import type { RelayPath } from './port-entry.js';
import { relayConnection, type RelayTarget } from './relay/relay-connection.js';
import { datagramRoute, relayTargetOf, route, type DatagramRoute, type Route } from './route.js';
import type { Log } from '../common/log.js';

export interface ForwardConnectionsOptions {
  docker: Docker;
  /** `--relay-path`, or null for the best path available. */
  relayPath: RelayPath | null;
  log: Log;
  /** Told when a forward's path changed by what a connection learned (its `::` socket is IPv6-only). */
  onPathLearned: (forward: Forward) => void;
}

/** Carries the connections accepted on the forwards' host listeners to their servers. */
export class ForwardConnections {
  private readonly relays = new Set<Promise<void>>();

  constructor(private readonly options: ForwardConnectionsOptions) {}

  /** How the forward's connections reach its server now (see route). */
  routeOf(forward: Forward): Route {
    if (forward.protocol === 'udp') {
      const datagrams = this.datagramRouteOf(forward);
      if (datagrams.path === 'netns' || datagrams.path === 'mux') {
        return { path: datagrams.path, address: null, fallbacks: [] };
      }
      return { path: 'direct', address: datagrams.path === null ? null : datagrams.address, fallbacks: [] };
    }
    const { dialer } = forward.target;
    const dials = dialer?.usable ?? true;
    return route({
      forced: this.options.relayPath,
      listener: forward,
      directAddresses: dials ? forward.target.directAddresses : [],
      viaLink: dialer?.via === 'ssh-link',
      agentUsable: forward.target.agent?.usable === true && dials,
      netnsUsable: forward.target.netns?.usable === true,
      muxUsable: forward.target.mux?.usable === true,
      ipv4Refused: forward.ipv4Refused === true,
    });
  }

  /** How a UDP forward's datagrams reach its server now, or why they cannot (see datagramRoute). */
  datagramRouteOf(forward: Forward): DatagramRoute {
    return datagramRoute({
      forced: this.options.relayPath,
      listener: forward,
      seen: forward.sockets !== undefined,
      // Datagrams go from the host only: the SSH link carries TCP.
      directAddresses: forward.target.dialer?.via === 'ssh-link' ? [] : forward.target.directAddresses,
      netnsUsable: forward.target.netns?.usable === true,
      muxUsable: forward.target.mux?.usable === true,
      port: forward.port,
      containerName: forward.target.name,
    });
  }

  /** Relays one connection accepted for `forward`. */
  accept(forward: Forward, socket: Socket): void {
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
      log: (message, fields) => this.options.log(message, { port: forward.port, ...fields }),
    }).catch((error: unknown) =>
      this.options.log('relay failed', { port: forward.port, error: errorMessage(error) }),
    );
    this.relays.add(relay);
    void relay.finally(() => this.relays.delete(relay));
  }

  /** Resolves once every relay has finished, or after `ms`. */
  async drain(ms: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.relays]), delay(ms)]);
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
      this.options.onPathLearned(forward);
    };
    const { target } = forward;
    return relayTargetOf(this.routeOf(forward), {
      containerId: target.id,
      containerName: target.name,
      port: forward.port,
      dialAddress: forward.dialAddress,
      relayProgram: target.relayProgram,
      agent: target.agent,
      netns: target.netns,
      mux: target.mux,
      onRefused,
      dialer: target.dialer ?? null,
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
