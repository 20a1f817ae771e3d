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
  /** Whether the container's mux channel may be used now (see OnDemandMux.usable). */
  muxUsable?: boolean;
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
   * at an IPv4 address (an IPv6-only `::` server) goes on inside the container; an agent or mux
   * channel that cannot run after all gives way to the next.
   */
  fallbacks: Exclude<RelayPath, 'direct'>[];
}

/**
 * Pure: how connections reach a server in the container. Direct to the container's IP when the
 * server accepts there and the host can route to it; else through the relay agent when it may run;
 * else over the mux channel when it may run; else by exec. `--relay-path` narrows the choice: exec
 * forces exec, agent and mux skip the direct dial (and mux the agent), direct skips the agent and
 * the mux channel (an exec still carries what the host cannot dial).
 */
export function route(input: RouteInput): Route {
  const { forced, listener } = input;
  const inside = insidePaths(input.agentUsable && forced !== 'mux', input.muxUsable === true);
  if (forced === 'exec') return { path: 'exec', address: null, fallbacks: [] };
  if (forced !== 'agent' && forced !== 'mux') {
    const address = directDialAddress(input.directAddresses, listener, input.ipv4Refused);
    if (address !== null) {
      const fallbacks = fallsBackWhenRefused(listener, address) ? inside : [];
      return { path: 'direct', address, fallbacks };
    }
  }
  const [path = 'exec', ...fallbacks] = forced === 'direct' ? ['exec' as const] : inside;
  return { path, address: null, fallbacks };
}

/** The paths inside the container, best first. */
function insidePaths(agentUsable: boolean, muxUsable: boolean): Exclude<RelayPath, 'direct'>[] {
  return [...(agentUsable ? ['agent' as const] : []), ...(muxUsable ? ['mux' as const] : []), 'exec'];
}

/** Pure: the relay agent runs unless exec, direct dialling or the mux channel is forced. */
export function wantsAgent(forced: RelayPath | null): boolean {
  return forced === null || forced === 'agent';
}

/** Pure: the mux channel may run unless exec, direct dialling or the agent is forced. */
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
  mux?: {
    relay(client: Socket, address: string, port: number): Promise<{ finished: Promise<void> } | null>;
  } | null;
  /** Told when a direct dial was refused and the connection went on inside the container. */
  onRefused: () => void;
}

/** What a connection on `chosen` is handed to (see relayConnection). */
export function relayTargetOf(chosen: Route, ends: RouteEnds): RelayTarget {
  if (chosen.path === 'direct' && chosen.address !== null) {
    const direct = { path: 'direct', host: chosen.address, port: ends.port } as const;
    if (chosen.fallbacks.length === 0) return direct;
    return {
      ...direct,
      refused: { fallback: insideTarget(chosen.fallbacks, ends), onRefused: ends.onRefused },
    };
  }
  return insideTarget(chosen.path === 'direct' ? chosen.fallbacks : [chosen.path, ...chosen.fallbacks], ends);
}

/** The first of `paths` to the server's address inside the container, each falling back to the next, exec last. */
function insideTarget(
  paths: readonly Exclude<RelayPath, 'direct'>[],
  ends: RouteEnds,
): Exclude<RelayTarget, { path: 'direct' }> {
  const program = ends.relayProgram;
  if (program === null) {
    // Only a container on the host's network has none, and none of its ports is forwarded.
    throw new ForwarderError(
      `container ${ends.containerName} has no relay program looked for: port ${ends.port} cannot be relayed into it`,
    );
  }
  const exec: Extract<RelayTarget, { path: 'exec' }> = {
    path: 'exec',
    containerId: ends.containerId,
    argv: relayArgv(program, ends.dialAddress, ends.port),
  };
  const { agent, mux } = ends;
  const viaMux: Extract<RelayTarget, { path: 'mux' | 'exec' }> =
    paths.includes('mux') && mux
      ? { path: 'mux', relay: (client) => mux.relay(client, ends.dialAddress, ends.port), fallback: exec }
      : exec;
  if (paths[0] === 'agent' && agent !== null) {
    return {
      path: 'agent',
      connect: (destination) => agent.connect(ends.dialAddress, ends.port, destination),
      fallback: viaMux,
    };
  }
  return paths[0] === 'exec' ? exec : viaMux;
}
