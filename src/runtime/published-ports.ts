/** A container port the engine itself publishes on the host (`docker run -p`, appPort, Compose `ports`). */
export interface PublishedPort {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** The host address it is bound to: '' or a wildcard for all of them. */
  hostIp: string;
  /** The host port, or null when the engine has not chosen one yet (a container not running). */
  hostPort: number | null;
}

/** `docker inspect`'s port maps: `"3000/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "3000" }]`. */
export type InspectPortMap = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;

/**
 * Pure: the published ports from `NetworkSettings.Ports` (what the engine bound, random host ports
 * included; only while the container runs), else `HostConfig.PortBindings` (what was asked for).
 * A port that is only exposed (`EXPOSE`, a null binding) is not published; sctp is left out.
 */
export function parsePublishedPorts(bound: InspectPortMap, requested: InspectPortMap): PublishedPort[] {
  const fromBound = fromPortMap(bound);
  return fromBound.length > 0 ? fromBound : fromPortMap(requested);
}

function fromPortMap(map: InspectPortMap): PublishedPort[] {
  const ports: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(map ?? {})) {
    const match = /^(\d{1,5})\/(tcp|udp)$/.exec(key);
    if (!match || !bindings) continue;
    const containerPort = Number(match[1]);
    const protocol = match[2] === 'udp' ? 'udp' : 'tcp';
    for (const binding of bindings) {
      const hostPort = Number(binding.HostPort);
      ports.push({
        containerPort,
        protocol,
        hostIp: binding.HostIp ?? '',
        hostPort: Number.isInteger(hostPort) && hostPort > 0 ? hostPort : null,
      });
    }
  }
  return ports;
}
