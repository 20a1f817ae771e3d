import {
  GREETING,
  LOOPBACK_PORTS,
  PORTPILOT_WILDCARD_HTTP_PORT,
  PUBLISHED_HTTP_PORT,
  SERVER_KINDS,
  THROUGHPUT_BYTES,
  WILDCARD_PORTS,
  type PathName,
  type ServerKind,
} from '../config.js';
import { progress } from '../log.js';
import { startContainer, startServers, type BenchContainer, type ServerSpec } from './containers.js';
import { startExecRelay } from './exec-baseline.js';
import { freeHostPort } from './host-ports.js';
import type { PortRow, Portpilot } from './portpilot.js';

/** Where a client connects. */
export interface Endpoint {
  host: string;
  port: number;
}

/** One of the compared paths: an endpoint per server kind, and what relays its connections. */
export interface BenchPath {
  name: PathName;
  endpoints: Record<ServerKind, Endpoint>;
  /** The host process whose tree relays the connections (a forwarder, the baseline's socats), or none. */
  relayPids: number[];
  /** The container whose servers it reaches (its in-container relays count as this path's). */
  container: BenchContainer;
  /** portpilot cases: container ports, to read `ports --json`'s path for. */
  forwarded: { containerId: string; ports: number[] } | null;
}

/** What a client measure needs of a path: where to connect for each server kind. */
export type Reachable = Pick<BenchPath, 'endpoints'>;

/** Everything the per-path measures run against. */
export interface Topology {
  paths: BenchPath[];
  /** Every relaying host process (forwarders and baseline socats), to wait for quiet between runs. */
  relayPids: number[];
}

function serverSpecs(host: string, ports: Record<ServerKind, number>): ServerSpec[] {
  const args: Record<ServerKind, string[]> = {
    greeting: [GREETING],
    source: [String(THROUGHPUT_BYTES)],
    http: [],
    echo: [],
  };
  return SERVER_KINDS.map((kind) => ({ kind, host, port: ports[kind], args: args[kind] }));
}

function endpointsOf(make: (kind: ServerKind) => Endpoint): Record<ServerKind, Endpoint> {
  return Object.fromEntries(SERVER_KINDS.map((kind) => [kind, make(kind)])) as Record<ServerKind, Endpoint>;
}

function hostPortOf(rows: Map<number, PortRow>, containerPort: number): number {
  const row = rows.get(containerPort);
  if (!row) throw new Error(`container port ${containerPort} is not forwarded`);
  return row.hostPort;
}

/**
 * Sets up the six paths: a main container with every server bound both to 0.0.0.0 and to 127.0.0.1,
 * a copy of its wildcard ones published with -p in a container of their own, portpilot's auto
 * forwarder on the main one, the baseline exec-per-connection relays to its loopback servers, and
 * a fallback container with the same loopback servers behind a forwarder started with
 * --relay-path exec.
 */
export async function setUpPaths(image: string, portpilot: Portpilot): Promise<Topology> {
  const published = endpointsOf(() => ({ host: '127.0.0.1', port: 0 }));
  for (const kind of SERVER_KINDS) published[kind].port = await freeHostPort();
  progress('starting the main, the published and the exec-fallback containers and their servers');
  const main = await startContainer(image, 'main');
  // The published path has a container of its own: a forwarder leaves a port the engine publishes
  // alone (it is reachable there already), so the main container's must not be.
  const publishedContainer = await startContainer(
    image,
    'published',
    SERVER_KINDS.map((kind) => ({
      hostPort: published[kind].port,
      containerPort: kind === 'http' ? PUBLISHED_HTTP_PORT : WILDCARD_PORTS[kind],
    })),
  );
  const fallback = await startContainer(image, 'exec-fallback');
  const httpCopies = [PORTPILOT_WILDCARD_HTTP_PORT];
  await startServers(main, [
    ...serverSpecs('0.0.0.0', WILDCARD_PORTS),
    ...httpCopies.map((port) => ({ kind: 'http' as const, host: '0.0.0.0', port, args: [] })),
    ...serverSpecs('127.0.0.1', LOOPBACK_PORTS),
  ]);
  await startServers(publishedContainer, [
    ...serverSpecs('0.0.0.0', WILDCARD_PORTS),
    { kind: 'http', host: '0.0.0.0', port: PUBLISHED_HTTP_PORT, args: [] },
  ]);
  await startServers(fallback, serverSpecs('127.0.0.1', LOOPBACK_PORTS));

  progress('starting portpilot (auto on the main container, --relay-path exec on the other)');
  const mainPid = await portpilot.up(main.id, 'auto');
  const fallbackPid = await portpilot.up(fallback.id, 'exec');
  const wildcardPorts = Object.values(WILDCARD_PORTS);
  const loopbackPorts = Object.values(LOOPBACK_PORTS);
  const mainRows = await portpilot.waitForwarded(main.id, [
    ...wildcardPorts,
    ...httpCopies,
    ...loopbackPorts,
  ]);
  const fallbackRows = await portpilot.waitForwarded(fallback.id, loopbackPorts);

  progress('starting the exec-per-connection baseline (host socat, one docker exec per connection)');
  const relays = await Promise.all(SERVER_KINDS.map((kind) => startExecRelay(main.id, LOOPBACK_PORTS[kind])));
  const relayByKind = new Map(SERVER_KINDS.map((kind, i) => [kind, relays[i]]));

  const loopback = (port: number): Endpoint => ({ host: '127.0.0.1', port });
  const paths: BenchPath[] = [
    {
      name: 'direct',
      endpoints: endpointsOf((kind) => ({ host: main.ip, port: WILDCARD_PORTS[kind] })),
      relayPids: [],
      container: main,
      forwarded: null,
    },
    {
      name: 'published',
      endpoints: published,
      relayPids: [],
      container: publishedContainer,
      forwarded: null,
    },
    {
      name: 'exec-per-connection',
      endpoints: endpointsOf((kind) => loopback(relayByKind.get(kind)?.hostPort ?? 0)),
      relayPids: relays.map((relay) => relay.pid),
      container: main,
      forwarded: null,
    },
    {
      name: 'portpilot-wildcard',
      endpoints: endpointsOf((kind) =>
        loopback(hostPortOf(mainRows, kind === 'http' ? PORTPILOT_WILDCARD_HTTP_PORT : WILDCARD_PORTS[kind])),
      ),
      relayPids: [mainPid],
      container: main,
      forwarded: { containerId: main.id, ports: wildcardPorts },
    },
    {
      name: 'portpilot-loopback',
      endpoints: endpointsOf((kind) => loopback(hostPortOf(mainRows, LOOPBACK_PORTS[kind]))),
      relayPids: [mainPid],
      container: main,
      forwarded: { containerId: main.id, ports: loopbackPorts },
    },
    {
      name: 'portpilot-loopback-exec',
      endpoints: endpointsOf((kind) => loopback(hostPortOf(fallbackRows, LOOPBACK_PORTS[kind]))),
      relayPids: [fallbackPid],
      container: fallback,
      forwarded: { containerId: fallback.id, ports: loopbackPorts },
    },
  ];
  return { paths, relayPids: [mainPid, fallbackPid, ...relays.map((relay) => relay.pid)] };
}

/** The `path` that `ports --json` reports for a portpilot case ('direct', 'exec', …; several joined by '+'). */
export async function reportedPath(portpilot: Portpilot, path: BenchPath): Promise<string | null> {
  if (!path.forwarded) return null;
  const { containerId, ports } = path.forwarded;
  const rows = await portpilot.ports(containerId);
  const seen = new Set(rows.filter((row) => ports.includes(row.containerPort)).map((row) => row.path));
  return [...seen].sort().join('+') || 'not forwarded';
}
