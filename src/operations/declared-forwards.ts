import { RuntimeError, UsageError } from '../common/errors.js';
import { parseForwardPortSpec } from '../config/port-specs.js';
import type { DeclaredPort, DevContainerConfig } from '../config/types.js';
import type { DeclaredForward } from '../daemon/daemon-spec.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { findServiceContainer, type ComposeWorkspace } from '../workspace/compose.js';

/** A declared port and where it was declared, for error messages. */
export interface DeclaredSource extends DeclaredPort {
  /** `forwardPorts[2]` or `--forward-port db:5432`. */
  origin: string;
}

/** forwardPorts followed by the --forward-port values, each port once. */
export function declaredPorts(
  config: Pick<DevContainerConfig, 'forwardPorts'>,
  flags: readonly string[],
): DeclaredSource[] {
  const ports: DeclaredSource[] = config.forwardPorts.map((port, index) => ({
    ...port,
    origin: `forwardPorts[${index}]`,
  }));
  for (const raw of flags) {
    const spec = parseForwardPortSpec(raw);
    if (!ports.some((p) => p.service === spec.service && p.port === spec.port)) {
      ports.push({ ...spec, origin: `--forward-port ${raw}` });
    }
  }
  return ports;
}

export function checkDeclaredServices(
  declared: readonly DeclaredSource[],
  compose: ComposeWorkspace | null,
): void {
  for (const { service, port, origin } of declared) {
    if (service === null) continue;
    if (!compose) {
      throw new UsageError(
        `${origin}: "${service}:${port}" names a Compose service, but this workspace does not use Compose`,
        {
          code: 'CONFIG_INVALID',
          description: `Forward ${port} alone, or use dockerComposeFile with a service named ${service}.`,
        },
      );
    }
    if (!compose.services.includes(service)) {
      throw new UsageError(
        `${origin}: "${service}:${port}" names no service of ${compose.source.files.join(', ')}; ` +
          `expected one of ${compose.services.join(', ')}`,
        {
          code: 'CONFIG_INVALID',
          description: `Name a service the Compose file(s) define, not "${service}".`,
        },
      );
    }
  }
}

/** Each declared port with the container it is dialled in: its Compose service's, or the dev container. */
export async function resolveForwards(
  docker: Docker,
  declared: readonly DeclaredSource[],
  primary: ContainerInfo,
  compose: { project: string; service: string } | null,
): Promise<DeclaredForward[]> {
  const forwards: DeclaredForward[] = [];
  for (const { service, port, origin } of declared) {
    if (service === null || !compose || service === compose.service) {
      forwards.push({ service, port, containerId: primary.id });
      continue;
    }
    const container = await findServiceContainer(docker, compose.project, service);
    if (!container?.running) {
      throw new RuntimeError(`${origin}: service ${service} has no running container`, {
        code: 'CONTAINER_NOT_RUNNING',
        description:
          `Compose project ${compose.project} ${container ? `has it ${container.status}` : 'did not start it'}: ` +
          `add "${service}" to runServices (or remove runServices), then run up again.`,
      });
    }
    forwards.push({ service, port, containerId: container.id });
  }
  return forwards;
}
