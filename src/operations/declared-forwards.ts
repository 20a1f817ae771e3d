import { RuntimeError, UsageError } from '../common/errors.js';
import { parseForwardPortSpec, sameDeclaredPort } from '../config/port-specs.js';
import type { DeclaredPort } from '../config/types.js';
import type { DeclaredForward } from '../control/daemon-spec.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { findServiceContainer } from '../workspace/compose.js';

/** A declared port and where it was declared, for error messages. */
export interface DeclaredSource extends DeclaredPort {
  /** `forwardPorts[2]` or `--forward-port db:5432`. */
  origin: string;
}

/** The dev container's Compose project and service, when it has them. */
export interface ComposeTarget {
  project: string;
  service: string;
}

/** Pure: forwardPorts followed by the --forward-port values, each port once. */
export function declaredPorts(
  forwardPorts: readonly DeclaredPort[],
  flags: readonly string[],
): DeclaredSource[] {
  const ports: DeclaredSource[] = forwardPorts.map((port, index) => ({
    ...port,
    origin: `forwardPorts[${index}]`,
  }));
  for (const raw of flags) {
    const spec = parseForwardPortSpec(raw);
    if (!ports.some((p) => sameDeclaredPort(p, spec))) {
      ports.push({ ...spec, origin: `--forward-port ${raw}` });
    }
  }
  return ports;
}

/** Each declared port with the container it is dialled in: its Compose service's, or the dev container. */
export async function resolveForwards(
  docker: Docker,
  declared: readonly DeclaredSource[],
  primary: ContainerInfo,
  compose: ComposeTarget | null,
): Promise<DeclaredForward[]> {
  const forwards: DeclaredForward[] = [];
  for (const { service, port, origin, protocol } of declared) {
    const udp = protocol === 'udp' ? { protocol } : {};
    if (service === null || service === compose?.service) {
      forwards.push({ service, port, ...udp, containerId: primary.id });
      continue;
    }
    if (!compose) {
      throw new UsageError(
        `${origin}: "${service}:${port}" names a Compose service, but this dev container is not a Compose service's`,
        {
          code: 'CONFIG_INVALID',
          description: `Forward ${port} alone, or use dockerComposeFile with a service named ${service}.`,
        },
      );
    }
    const container = await findServiceContainer(docker, compose.project, service);
    if (!container?.running) {
      throw new RuntimeError(`${origin}: service ${service} has no running container`, {
        code: 'CONTAINER_NOT_RUNNING',
        description:
          `Compose project ${compose.project} ${container ? `has it ${container.status}` : 'has no such service, or did not start it'}: ` +
          `check the service name, add "${service}" to runServices (or remove runServices), then run up again.`,
      });
    }
    forwards.push({ service, port, ...udp, containerId: container.id });
  }
  return forwards;
}
