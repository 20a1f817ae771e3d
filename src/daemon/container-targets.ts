import type pino from 'pino';
import { OnDemandAgent, agentIdleMs } from '../forwarding/relay/agent/agent-on-demand.js';
import { findHostAddress, startRelayAgent } from '../forwarding/relay/agent/agent-process.js';
import type { AgentInterpreter } from '../forwarding/relay/agent/agent-protocol.js';
import { muxFor } from '../forwarding/relay/mux/mux-start.js';
import { probeContainerPrograms } from '../forwarding/relay/exec/program-probe.js';
import { channelListenerSource } from '../forwarding/detect/channel-listener-source.js';
import type { ListenerSource } from '../forwarding/detect/listener-source.js';
import { dialableAddresses, wantsAgent, wantsMux, wantsNetns } from '../forwarding/route.js';
import { dialerOf, type ContainerDialer } from '../forwarding/relay/container-dialer.js';
import type { RelayPath } from '../forwarding/port-entry.js';
import type { TargetContainer } from '../forwarding/supervisor.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { PortpilotError } from '../common/errors.js';
import { namespaceHelperFor } from './namespace-helpers.js';

type Logger = pino.Logger;

/** Which of the paths into a container that need something started the forwarder may use. */
export interface WantedPaths {
  agent: boolean;
  netns: boolean;
  mux: boolean;
  log: Logger;
}

/** Pure: the paths `--relay-path` leaves the forwarder to start (see route). */
export function wantedPaths(forced: RelayPath | null, log: Logger): WantedPaths {
  return { agent: wantsAgent(forced), netns: wantsNetns(forced), mux: wantsMux(forced), log };
}

/**
 * What the forwarder knows of one container it forwards into: its addresses, the relay program it
 * offers, and the namespace helper, relay agent and mux channel that may serve its loopback-bound
 * ports (none of them for the other containers of a Compose project: `wanted` null).
 */
export async function targetOf(
  docker: Docker,
  container: ContainerInfo,
  source: ListenerSource,
  wanted: WantedPaths | null = null,
): Promise<TargetContainer> {
  const dialer = dialerFor(docker, source);
  const directAddresses = directAddressesOf(container, source, docker);
  const hostNetwork = onHostNetwork(container);
  const netns =
    hostNetwork || wanted?.netns !== true ? null : await namespaceHelperFor(container, source, wanted.log);
  // On the host's network nothing is relayed (see Supervisor): no relay program or agent is needed.
  // With a namespace helper, an image without any relay program (distroless, scratch) is served.
  const programs = hostNetwork
    ? null
    : await probeContainerPrograms(docker, container.id, container.name).catch((error: unknown) => {
        if (netns === null || !(error instanceof PortpilotError) || error.code !== 'NO_RELAY_PROGRAM') {
          throw error;
        }
        wanted?.log.info('no relay program in the container: its namespace helper carries every connection');
        return { relayProgram: null, agentInterpreters: [] };
      });
  return {
    id: container.id,
    name: container.name,
    service: container.composeService,
    directAddresses,
    dialer,
    relayProgram: programs?.relayProgram ?? null,
    agent:
      programs && wanted?.agent
        ? await agentFor(docker, container, directAddresses, programs.agentInterpreters, wanted.log, dialer)
        : null,
    netns,
    mux:
      programs && wanted?.mux
        ? muxFor(docker, container.id, programs.agentInterpreters, {
            idleMs: agentIdleMs(),
            info: (message, fields) => wanted.log.info(fields ?? {}, message),
          })
        : null,
    hostNetwork,
    publishedPorts: container.publishedPorts,
  };
}

/** Pure: whether the container runs in the host's own network namespace (network mode `host`). */
export function onHostNetwork(container: Pick<ContainerInfo, 'networkMode'>): boolean {
  return container.networkMode === 'host';
}

/**
 * Where the listener tables can only be read through exec, the container's mux channel reports them
 * instead (no exec per scan), when it has one; the exec reads serve while it cannot run.
 */
export function reportedSource(source: ListenerSource, target: Pick<TargetContainer, 'mux'>): ListenerSource {
  return source.kind === 'exec' && target.mux ? channelListenerSource(target.mux, source) : source;
}

/** The container's addresses the forwarder can dial, from the host or through the SSH link (see dialerOf). */
export function directAddressesOf(
  container: ContainerInfo,
  source: ListenerSource,
  docker: Docker,
): string[] {
  return dialableAddresses(container.ipAddresses, dialerFor(docker, source) !== null);
}

/** How the container's addresses are dialled (see dialerOf). */
export function dialerFor(docker: Docker, source: ListenerSource): ContainerDialer | null {
  return dialerOf(source.kind === 'host-proc', docker.linkDials);
}

/**
 * The relay agent turns a loopback-bound server into a direct dial of the container's address (a few
 * ms to connect instead of a `docker exec`, and no 25 MB client per connection). It needs python3 or
 * perl in the container and a route from the host; without them connections go through exec. It is
 * started by the first connection that needs it (see OnDemandAgent).
 */
async function agentFor(
  docker: Docker,
  container: ContainerInfo,
  directAddresses: string[],
  interpreters: readonly AgentInterpreter[],
  log: Logger,
  dialer: ContainerDialer | null,
): Promise<OnDemandAgent | null> {
  const containerAddress = directAddresses.find((address) => !address.includes(':'));
  if (!containerAddress || interpreters.length === 0 || dialer === null) return null;
  // Through the SSH link the agent is dialled by the remote host, from its address on the
  // container's bridge: the network's gateway, which this host cannot ask its own routes for.
  const hostAddress =
    dialer.via === 'host'
      ? await findHostAddress(containerAddress)
      : (container.gateways?.[containerAddress] ?? null);
  if (hostAddress === null) return null;
  return new OnDemandAgent(
    containerAddress,
    async () => {
      for (const interpreter of interpreters) {
        const agent = await startRelayAgent(docker, container.id, {
          containerAddress,
          hostAddress,
          interpreter,
          dialer,
          log: (message) => log.info(message),
        });
        if (agent) {
          log.info({ interpreter, address: `${agent.host}:${agent.port}` }, 'relay agent running');
          return agent;
        }
      }
      log.warn('no relay agent could start: loopback-bound ports go through exec');
      return null;
    },
    {
      idleMs: agentIdleMs(),
      onStartFailed: (retryInMs) =>
        log.info({ retryInMs }, 'connections go through exec until the relay agent is tried again'),
      onIdleStop: (idleMs) =>
        log.info({ idleMs }, 'relay agent stopped after an idle spell; the next connection starts it again'),
    },
  );
}
