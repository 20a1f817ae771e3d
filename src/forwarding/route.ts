import type { Socket } from 'node:net';
import { ForwarderError } from '../common/errors.js';
import type { RelayPath } from './port-entry.js';
import { directDialAddress, fallsBackWhenRefused, type ListenerBinding } from './relay/direct-dial.js';
import { relayArgv, type RelayProgram } from './relay/exec/exec-relay.js';
import type { ContainerDialer } from './relay/container-dialer.js';
import type { InsideTarget, RelayTarget } from './relay/relay-connection.js';

/** What decides how one forward's connections reach its server. */
export interface RouteInput {
  /** `--relay-path`, or null for the best path available. */
  forced: RelayPath | null;
  /** How the server in the container is bound. */
  listener: ListenerBinding;
  /** Container addresses the host can dial (empty for a remote or VM-backed engine). */
  directAddresses: readonly string[];
  /** Whether the container's relay agent may be used now (see OnDemandAgent.usable). */
  agentUsable: boolean;
  /** Whether a helper in the container's network namespace may be used now (see NamespaceHelper.usable). */
  netnsUsable: boolean;
  /** Whether the container's mux channel may be used now (see OnDemandMux.usable). */
  muxUsable?: boolean;
  /** A direct dial at the container's IPv4 address was refused by the current socket: it is IPv6-only. */
  ipv4Refused: boolean;
  /**
   * `directAddresses` are dialled through the SSH link (see ContainerDialer), where a refused dial
   * reads as a closed connection: nothing that may be refused there is dialled.
   */
  viaLink?: boolean;
}

/** The path a forward's connections take, and what they fall back to. */
export interface Route {
  /** The path tried first: the one the registry records. */
  path: RelayPath;
  /** The container address a direct path dials; null for the other paths. */
  address: string | null;
  /**
   * The paths a connection goes on to, in order, when the one before fails it: a direct dial refused
   * at an IPv4 address (an IPv6-only `::` server) goes on inside the container; a namespace helper,
   * an agent or a mux channel that cannot run after all gives way to the next.
   */
  fallbacks: Exclude<RelayPath, 'direct'>[];
}

/**
 * Pure: how connections reach a server in the container. Direct to the container's IP when the
 * server accepts there and the host can route to it; else, inside the container, the first that may
 * run of: a helper in its network namespace, the relay agent, the mux channel (one exec carrying
 * every connection), and an exec per connection. `--relay-path` narrows the choice: exec forces
 * exec; netns, agent and mux skip the direct dial and the other two (exec stays the last resort);
 * direct skips all three (an exec still carries what the host cannot dial). Through an SSH link
 * (`viaLink`) an IPv6 wildcard is dialled only at an IPv6 address: a refusal at the IPv4 one
 * (an IPv6-only socket) could not be told from the server closing.
 */
export function route(input: RouteInput): Route {
  const { forced, listener } = input;
  if (forced === 'exec') return { path: 'exec', address: null, fallbacks: [] };
  const inside = insidePaths(input);
  if (forced === null || forced === 'direct') {
    const address = directDialAddress(input.directAddresses, listener, input.ipv4Refused);
    const mayBeRefused = address !== null && fallsBackWhenRefused(listener, address);
    if (address !== null && !(mayBeRefused && input.viaLink === true)) {
      return { path: 'direct', address, fallbacks: mayBeRefused ? inside : [] };
    }
  }
  const [path = 'exec', ...fallbacks] = inside;
  return { path, address: null, fallbacks };
}

/** The paths inside the container that may run and are not ruled out by `forced`, best first, exec last. */
function insidePaths(input: RouteInput): Exclude<RelayPath, 'direct'>[] {
  const allowed = (path: RelayPath) => input.forced === null || input.forced === path;
  return [
    ...(input.netnsUsable && allowed('netns') ? (['netns'] as const) : []),
    ...(input.agentUsable && allowed('agent') ? (['agent'] as const) : []),
    ...(input.muxUsable === true && allowed('mux') ? (['mux'] as const) : []),
    'exec',
  ];
}

/** Pure: the relay agent runs unless exec, direct dialling or the namespace helper is forced. */
export function wantsAgent(forced: RelayPath | null): boolean {
  return forced === null || forced === 'agent';
}

/** Pure: a namespace helper is offered unless another path is forced. */
export function wantsNetns(forced: RelayPath | null): boolean {
  return forced === null || forced === 'netns';
}

/** Pure: the mux channel may run unless another path is forced. */
export function wantsMux(forced: RelayPath | null): boolean {
  return forced === null || forced === 'mux';
}

/**
 * Pure: the container addresses the host can dial. Only a local engine puts container addresses on
 * the host's routes: one whose init is proven in our /proc (listeners read from the host).
 */
export function dialableAddresses(addresses: readonly string[], listenersReadFromHost: boolean): string[] {
  return listenersReadFromHost ? [...addresses] : [];
}

/** The ends of one forward that a route's connections are carried between. */
export interface RouteEnds {
  containerId: string;
  containerName: string;
  port: number;
  /** The server's address inside the container. */
  dialAddress: string;
  relayProgram: RelayProgram | null;
  agent: { connect(address: string, port: number, destination: Socket): Promise<Socket | null> } | null;
  /** The helper in the container's network namespace (same contract as the agent's connect). */
  netns: { connect(address: string, port: number, destination: Socket): Promise<Socket | null> } | null;
  /** The container's mux channel: carries the client, or null when no channel can run. */
  mux?: {
    relay(client: Socket, address: string, port: number): Promise<{ finished: Promise<void> } | null>;
  } | null;
  /** Told when a direct dial was refused and the connection went on inside the container. */
  onRefused: () => void;
  /** How the direct path dials the container's address (from the host when absent). */
  dialer?: ContainerDialer | null;
}

/** What a connection on `chosen` is handed to (see relayConnection). */
export function relayTargetOf(chosen: Route, ends: RouteEnds): RelayTarget {
  if (chosen.path === 'direct' && chosen.address !== null) {
    const direct = {
      path: 'direct',
      host: chosen.address,
      port: ends.port,
      ...(ends.dialer ? { dialer: ends.dialer } : {}),
    } as const;
    const fallback = insideTarget(chosen.fallbacks, ends, true);
    if (fallback === null) return direct;
    return { ...direct, refused: { fallback, onRefused: ends.onRefused } };
  }
  return insideTarget([chosen.path, ...chosen.fallbacks], ends, false) ?? execTarget(ends);
}

/**
 * The first of `paths` inside the container, each path's fallback the next. An exec with no relay
 * program is left out behind the namespace helper or a refused direct dial (`noExecIsFine`: a
 * container with none, reached through its namespace helper); anywhere else it is an error.
 */
function insideTarget(
  paths: readonly RelayPath[],
  ends: RouteEnds,
  noExecIsFine: boolean,
): InsideTarget | null {
  const [path, ...rest] = paths;
  if (path === undefined || path === 'direct') return null;
  const { netns, agent, mux, dialAddress, port } = ends;
  const next = (fine: boolean) => insideTarget(rest, ends, fine);
  if (path === 'netns' && netns) {
    return {
      path,
      connect: (destination) => netns.connect(dialAddress, port, destination),
      fallback: next(true),
    };
  }
  if (path === 'agent' && agent) {
    return {
      path,
      connect: (destination) => agent.connect(dialAddress, port, destination),
      fallback: next(noExecIsFine),
    };
  }
  if (path === 'mux' && mux) {
    return { path, relay: (client) => mux.relay(client, dialAddress, port), fallback: next(noExecIsFine) };
  }
  if (path !== 'exec') return next(noExecIsFine);
  return noExecIsFine && ends.relayProgram === null ? null : execTarget(ends);
}

/** Exec to the server's address inside the container. */
function execTarget(ends: RouteEnds): Extract<RelayTarget, { path: 'exec' }> {
  const program = ends.relayProgram;
  if (program === null) {
    // Only a container on the host's network has none, and none of its ports is forwarded.
    throw new ForwarderError(
      `container ${ends.containerName} has no relay program looked for: port ${ends.port} cannot be relayed into it`,
    );
  }
  return {
    path: 'exec',
    containerId: ends.containerId,
    argv: relayArgv(program, ends.dialAddress, ends.port),
  };
}

/**
 * Where a UDP forward's datagrams go, or why they cannot go anywhere. On `netns` and `mux`,
 * `address` is the server's address inside the container, sent to through a socket from its
 * namespace helper, or from its mux agent.
 */
export type DatagramRoute =
  { path: 'direct' | 'netns' | 'mux'; address: string } | { path: null; reason: string };

/**
 * Pure: how a UDP forward's datagrams reach its server. Through a socket in the container's
 * namespace (its helper's) for a server on the container's loopback, where the helper may run;
 * directly, to the container's address, for a server bound to all addresses on a local engine; else
 * over the container's mux channel (its agent's sockets), where one may run: a remote engine,
 * another user's rootless one. None for a forced agent or exec, or where none of the three can
 * serve. `--relay-path mux` skips the first two. `seen` is false for a declared port before its
 * server was read: its datagrams go to the container's address (or its loopback over the mux
 * channel) until a read says how it is bound.
 */
export function datagramRoute(input: {
  forced: RelayPath | null;
  listener: ListenerBinding;
  seen: boolean;
  directAddresses: readonly string[];
  /** Whether the container's namespace helper may be used now (see NamespaceHelper.usable). */
  netnsUsable: boolean;
  /** Whether the container's mux channel may be used now (see OnDemandMux.usable). */
  muxUsable?: boolean;
  port: number;
  containerName: string;
}): DatagramRoute {
  const { port, forced } = input;
  if (forced === 'agent' || forced === 'exec') {
    return {
      path: null,
      reason: `UDP port ${port} cannot take --relay-path ${forced}: datagrams are relayed only directly to the container's address, through its namespace helper or over its mux channel; use --relay-path auto, direct, netns or mux`,
    };
  }
  const netns = input.netnsUsable && (forced === null || forced === 'netns');
  if (netns && input.seen && input.listener.scope === 'loopback') {
    return { path: 'netns', address: input.listener.dialAddress };
  }
  const direct = forced === 'mux' ? null : directDatagramAddress(input);
  if (direct !== null) return { path: 'direct', address: direct };
  if (input.muxUsable === true && (forced === null || forced === 'mux')) {
    return { path: 'mux', address: input.seen ? input.listener.dialAddress : '127.0.0.1' };
  }
  return { path: null, reason: noDatagramPath(input) };
}

/** The container address a forward's datagrams are sent to from the host, or null when none serves. */
function directDatagramAddress(input: Parameters<typeof datagramRoute>[0]): string | null {
  if (input.directAddresses.length === 0) return null;
  if (input.seen && input.listener.scope === 'loopback') return null;
  const listener: ListenerBinding = input.seen
    ? input.listener
    : { scope: 'wildcard', dialAddress: '127.0.0.1' };
  return directDialAddress(input.directAddresses, listener, false);
}

/** Why no path serves a UDP forward (see datagramRoute). */
function noDatagramPath(input: Parameters<typeof datagramRoute>[0]): string {
  const { port, containerName, forced } = input;
  const mux =
    forced === null || forced === 'mux'
      ? 'no mux channel can run in it (it needs python3 or perl)'
      : `--relay-path ${forced} rules out its mux channel`;
  if (forced === 'mux') {
    return `UDP port ${port} of container ${containerName} is not forwarded: --relay-path mux is forced and ${mux}`;
  }
  if (input.directAddresses.length === 0) {
    return `UDP port ${port} of container ${containerName} is not forwarded: this host cannot send to the container's addresses (a remote or VM-backed engine), and ${mux}`;
  }
  if (input.seen && input.listener.scope === 'loopback') {
    return `UDP port ${port} of container ${containerName} is not forwarded: its server listens on the container's loopback (${input.listener.dialAddress}) only, which the host cannot send to, the container's namespace helper is not available (${forced === null ? 'it needs a local engine and root' : `--relay-path ${forced}`}) and ${mux}; bind the server to 0.0.0.0 (or ::) to forward it`;
  }
  return `UDP port ${port} of container ${containerName} is not forwarded: its server listens on ${input.listener.dialAddress}, an address of the container's the host cannot send to, and ${mux}`;
}
