import { configError, invalidConfig, isAbsent, parsedFrom, showValue } from './config-values.js';

/**
 * A host loopback port made reachable inside the container: the host's `127.0.0.1:hostPort` is
 * served inside the container's network namespace at `127.0.0.1:containerPort`.
 */
export interface ReversePort {
  hostPort: number;
  containerPort: number;
}

const EXPECTED = 'a port (1-65535) or "PORT:CONTAINER_PORT" (host port, then the port inside the container)';
const PAIR = /^(\d{1,5})(?::(\d{1,5}))?$/;

function portOf(text: string): number | null {
  const port = Number(text);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
}

/**
 * Pure: one reverse port, a number or a `PORT[:CONTAINER_PORT]` string (the container port defaults
 * to the host's); a CONFIG_INVALID error naming `path`, the value and what was expected.
 */
export function parseReversePort(value: unknown, path: string): ReversePort {
  if (typeof value === 'number') {
    const port = portOf(String(value));
    if (port === null || !Number.isInteger(value)) invalidConfig(path, value, 'is not a port', EXPECTED);
    return { hostPort: port, containerPort: port };
  }
  if (typeof value !== 'string') invalidConfig(path, value, 'is not a number or a string', EXPECTED);
  const match = PAIR.exec(value.trim());
  const hostPort = match ? portOf(match[1] as string) : null;
  const containerPort = match ? (match[2] === undefined ? hostPort : portOf(match[2])) : null;
  if (hostPort === null || containerPort === null) {
    invalidConfig(path, value, 'is not a reverse port', EXPECTED);
  }
  return { hostPort, containerPort };
}

/**
 * Pure: the reverse ports of `customizations.portpilot.reversePorts` (or the --reverse-port values),
 * each container port once; absent is none. Two host ports served at one container port is an error.
 */
export function parseReversePorts(value: unknown, path: string): ReversePort[] {
  if (isAbsent(value)) return [];
  if (!Array.isArray(value)) invalidConfig(path, value, 'is not an array', `an array of ${EXPECTED}`);
  return mergeReversePorts(value.map((item, index) => parseReversePort(item, `${path}[${index}]`)));
}

/** Pure: `ports` with duplicates dropped; an error when one container port is asked for two host ports. */
export function mergeReversePorts(ports: readonly ReversePort[]): ReversePort[] {
  const merged: ReversePort[] = [];
  for (const port of ports) {
    const same = merged.find((p) => p.containerPort === port.containerPort);
    if (same === undefined) merged.push(port);
    else if (same.hostPort !== port.hostPort) {
      throw configError(
        `reverse ports ${showValue(`${same.hostPort}:${same.containerPort}`)} and ${showValue(`${port.hostPort}:${port.containerPort}`)} both listen at container port ${port.containerPort}`,
        'Give each reverse port its own CONTAINER_PORT (PORT:CONTAINER_PORT).',
      );
    }
  }
  return merged;
}

/** Pure: a reverse port as the user writes it, `PORT` or `PORT:CONTAINER_PORT`. */
export function reversePortText(port: ReversePort): string {
  return port.hostPort === port.containerPort
    ? String(port.hostPort)
    : `${port.hostPort}:${port.containerPort}`;
}

/**
 * Pure: `customizations.portpilot.reversePorts` of a configuration. In devcontainer.json
 * `customizations.portpilot` is an object; the reference CLI's merged configuration makes it an array
 * of such objects (one per source: the image's metadata, features, devcontainer.json), all taken.
 * `source` names where it came from in a CONFIG_INVALID error.
 */
export function parseReversePortsSetting(configuration: unknown, source: string): ReversePort[] {
  const path = 'customizations.portpilot.reversePorts';
  const customizations = (configuration as { customizations?: unknown } | null | undefined)?.customizations;
  const portpilot = (customizations as { portpilot?: unknown } | null | undefined)?.portpilot;
  const blocks: unknown[] = Array.isArray(portpilot) ? portpilot : [portpilot];
  return parsedFrom(source, () =>
    mergeReversePorts(
      blocks.flatMap((block) =>
        parseReversePorts((block as { reversePorts?: unknown } | null | undefined)?.reversePorts, path),
      ),
    ),
  );
}
