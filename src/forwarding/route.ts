import type { Socket } from 'node:net';
import { ForwarderError } from '../common/errors.js';
import type { RelayPath } from './port-entry.js';
import { directDialAddress, fallsBackWhenRefused, type ListenerBinding } from './relay/direct-dial.js';
import { relayArgv, type RelayProgram } from './relay/exec/exec-relay.js';
import type { RelayTarget } from './relay/relay-connection.js';

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
  /** A direct dial at the container's IPv4 address was refused by the current socket: it is IPv6-only. */
  ipv4Refused: boolean;
}

/** The path a forward's connections take, and what they fall back to. */
export interface Route {
  /** The path tried first: the one the registry records. */
  path: RelayPath;
  /** The container address a direct path dials; null for the other paths. */
  address: string | null;
  /**
   * The paths a connection goes on to, in order, when the one before fails it: a direct dial refused
   * at an IPv4 address (an IPv6-only `::` server) goes on inside the container; a namespace helper or
   * an agent that cannot run after all gives way to the next.
   */
  fallbacks: Exclude<RelayPath, 'direct'>[];
}

/**
 * Pure: how connections reach a server in the container. Direct to the container's IP when the
 * server accepts there and the host can route to it; else through the helper in its network
 * namespace when it may run; else through the relay agent when it may run; else by exec.
 * `--relay-path` narrows the choice: exec forces exec, netns and agent skip the direct dial and each
 * other, direct skips both (an exec still carries what the host cannot dial).
 */
export function route(input: RouteInput): Route {
  const { forced, listener } = input;
  const inside = insidePaths(input);
  if (forced === 'exec') return { path: 'exec', address: null, fallbacks: [] };
  if (forced === 'netns' && input.netnsUsable) return { path: 'netns', address: null, fallbacks: ['exec'] };
  if (forced === null || forced === 'direct') {
    const address = directDialAddress(input.directAddresses, listener, input.ipv4Refused);
    if (address !== null) {
      const fallbacks = fallsBackWhenRefused(listener, address) ? inside : [];
      return { path: 'direct', address, fallbacks };
    }
  }
  if (forced === null && input.netnsUsable) {
    return { path: 'netns', address: null, fallbacks: inside.slice(1) };
  }
  if ((forced === null || forced === 'agent') && input.agentUsable) {
    return { path: 'agent', address: null, fallbacks: ['exec'] };
  }
  return { path: 'exec', address: null, fallbacks: [] };
}

/** The paths inside the container, best first. */
function insidePaths(input: RouteInput): Exclude<RelayPath, 'direct'>[] {
  return [
    ...(input.netnsUsable && input.forced === null ? (['netns'] as const) : []),
    ...(input.agentUsable ? (['agent'] as const) : []),
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
  /** Told when a direct dial was refused and the connection went on inside the container. */
  onRefused: () => void;
}

/** What a connection on `chosen` is handed to (see relayConnection). */
export function relayTargetOf(chosen: Route, ends: RouteEnds): RelayTarget {
  if (chosen.path === 'direct' && chosen.address !== null) {
    const direct = { path: 'direct', host: chosen.address, port: ends.port } as const;
    const fallback = insideTarget(chosen.fallbacks, ends, true);
    if (fallback === null) return direct;
    return { ...direct, refused: { fallback, onRefused: ends.onRefused } };
  }
  return insideTarget([chosen.path, ...chosen.fallbacks], ends, false) ?? execTarget(ends);
}

/**
 * The first of `paths` inside the container, each path's fallback the next; a fallback exec with no
 * relay program is left out (a container with none, reached through its namespace helper).
 */
function insideTarget(
  paths: readonly RelayPath[],
  ends: RouteEnds,
  asFallback: boolean,
): Exclude<RelayTarget, { path: 'direct' }> | null {
  const [path, ...rest] = paths;
  const netns = ends.netns;
  if (path === 'netns' && netns !== null) {
    return {
      path: 'netns',
      connect: (destination) => netns.connect(ends.dialAddress, ends.port, destination),
      fallback: insideTarget(rest, ends, true),
    };
  }
  if (path === undefined || path === 'direct' || (asFallback && ends.relayProgram === null)) return null;
  return agentOrExec(path, ends);
}

/** The agent, or else exec, to the server's address inside the container. */
function agentOrExec(path: RelayPath, ends: RouteEnds): Exclude<RelayTarget, { path: 'direct' }> {
  const exec = execTarget(ends);
  const agent = ends.agent;
  if (path !== 'agent' || agent === null) return exec;
  return {
    path: 'agent',
    connect: (destination) => agent.connect(ends.dialAddress, ends.port, destination),
    fallback: exec,
  };
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
 * Where a UDP forward's datagrams go, or why they cannot go anywhere. On `netns`, `address` is the
 * server's address inside the container, sent to through a socket from its namespace helper.
 */
export type DatagramRoute = { path: 'direct' | 'netns'; address: string } | { path: null; reason: string };

/**
 * Pure: how a UDP forward's datagrams reach its server. Directly, to the container's address, for a
 * server bound to all addresses on a local engine; through a socket in the container's namespace
 * (its helper's) for a server on the container's loopback, where the helper may run. Else (a forced
 * agent or exec, the helper not available, an engine whose addresses the host cannot dial) none: no
 * relay inside the container carries datagrams. `seen` is false for a declared port before its
 * server was read: its datagrams go to the container's address until a read says how it is bound.
 */
export function datagramRoute(input: {
  forced: RelayPath | null;
  listener: ListenerBinding;
  seen: boolean;
  directAddresses: readonly string[];
  /** Whether the container's namespace helper may be used now (see NamespaceHelper.usable). */
  netnsUsable: boolean;
  port: number;
  containerName: string;
}): DatagramRoute {
  const { port, containerName } = input;
  const netns = input.netnsUsable && (input.forced === null || input.forced === 'netns');
  if (netns && input.seen && input.listener.scope === 'loopback') {
    return { path: 'netns', address: input.listener.dialAddress };
  }
  if (input.forced === 'agent' || input.forced === 'exec') {
    return {
      path: null,
      reason: `UDP port ${port} cannot take --relay-path ${input.forced}: datagrams are relayed only directly to the container's address or through its namespace helper; use --relay-path auto, direct or netns`,
    };
  }
  if (input.directAddresses.length === 0) {
    return {
      path: null,
      reason: `UDP port ${port} of container ${containerName} is not forwarded: this host cannot send to the container's addresses (a remote or VM-backed engine), and datagrams are relayed only directly`,
    };
  }
  if (input.seen && input.listener.scope === 'loopback') {
    return {
      path: null,
      reason: `UDP port ${port} of container ${containerName} is not forwarded: its server listens on the container's loopback (${input.listener.dialAddress}) only, which the host cannot send to, and the container's namespace helper is not available (${input.forced === null ? 'it needs a local engine and root' : `--relay-path ${input.forced}`}); bind the server to 0.0.0.0 (or ::) to forward it`,
    };
  }
  const listener: ListenerBinding = input.seen
    ? input.listener
    : { scope: 'wildcard', dialAddress: '127.0.0.1' };
  const address = directDialAddress(input.directAddresses, listener, false);
  if (address === null) {
    return {
      path: null,
      reason: `UDP port ${port} of container ${containerName} is not forwarded: its server listens on ${input.listener.dialAddress}, an address of the container's the host cannot send to`,
    };
  }
  return { path: 'direct', address };
}
