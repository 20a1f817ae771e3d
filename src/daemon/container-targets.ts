import type pino from 'pino';
import { OnDemandAgent, agentIdleMs } from '../forwarding/relay/agent/agent-on-demand.js';
import { findHostAddress, startRelayAgent } from '../forwarding/relay/agent/agent-process.js';
import type { AgentInterpreter } from '../forwarding/relay/agent/agent-protocol.js';
import { probeContainerPrograms } from '../forwarding/relay/exec/exec-relay.js';
import type { ListenerSource } from '../forwarding/detect/listener-source.js';
import { dialableAddresses } from '../forwarding/route.js';
import type { TargetContainer } from '../forwarding/supervisor.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { PortpilotError } from '../common/errors.js';
import { namespaceHelperFor } from './namespace-helpers.js';

type Logger = pino.Logger;

/**
 * What the forwarder knows of one container it forwards into: its addresses, the relay program it
 * offers, and the relay agent that may serve its loopback-bound ports.
 */
export async function targetOf(
  docker: Docker,
  container: ContainerInfo,
  source: ListenerSource,
  agent: { wanted: boolean; netns?: boolean; log: Logger } | null = null,
): Promise<TargetContainer> {
  const directAddresses = directAddressesOf(container, source);
  const hostNetwork = onHostNetwork(container);
  const netns =
    hostNetwork || agent?.netns !== true ? null : await namespaceHelperFor(container, source, agent.log);
  // On the host's network nothing is relayed (see Supervisor): no relay program or agent is needed.
  // With a namespace helper, an image without any relay program (distroless, scratch) is served.
  const programs = hostNetwork
    ? null
    : await probeContainerPrograms(docker, container.id, container.name).catch((error: unknown) => {
        if (netns === null || !(error instanceof PortpilotError) || error.code !== 'NO_RELAY_PROGRAM') {
          throw error;
        }
        agent?.log.info('no relay program in the container: its namespace helper carries every connection');
        return { relayProgram: null, agentInterpreters: [] };
      });
  return {
    id: container.id,
    name: container.name,
    service: container.composeService,
    directAddresses,
    relayProgram: programs?.relayProgram ?? null,
    agent:
      programs && agent?.wanted
        ? await agentFor(docker, container.id, directAddresses, programs.agentInterpreters, agent.log)
        : null,
    netns,
    hostNetwork,
    publishedPorts: container.publishedPorts,
  };
}

/** Pure: whether the container runs in the host's own network namespace (network mode `host`). */
export function onHostNetwork(container: Pick<ContainerInfo, 'networkMode'>): boolean {
  return container.networkMode === 'host';
}

/** The container's addresses the host can dial (see dialableAddresses). */
export function directAddressesOf(container: ContainerInfo, source: ListenerSource): string[] {
  return dialableAddresses(container.ipAddresses, source.kind === 'host-proc');
}

/**
 * The relay agent turns a loopback-bound server into a direct dial of the container's address (a few
 * ms to connect instead of a `docker exec`, and no 25 MB client per connection). It needs python3 or
 * perl in the container and a route from the host; without them connections go through exec. It is
 * started by the first connection that needs it (see OnDemandAgent).
 */
async function agentFor(
  docker: Docker,
  containerId: string,
  directAddresses: string[],
  interpreters: readonly AgentInterpreter[],
  log: Logger,
): Promise<OnDemandAgent | null> {
  const containerAddress = directAddresses.find((address) => !address.includes(':'));
  if (!containerAddress || interpreters.length === 0) return null;
  const hostAddress = await findHostAddress(containerAddress);
  if (hostAddress === null) return null;
  return new OnDemandAgent(
    containerAddress,
    async () => {
      for (const interpreter of interpreters) {
        const agent = await startRelayAgent(docker, containerId, {
          containerAddress,
          hostAddress,
          interpreter,
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
