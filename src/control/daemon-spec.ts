import { isIP } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import { errorMessage, StateError, UsageError } from '../common/errors.js';
import { statePaths } from '../common/state-dir.js';
import { parsePortAttributes, parsePortsAttributesKey } from '../config/port-specs.js';
import { mergeReversePorts, type ReversePort } from '../config/reverse-ports.js';
import type { SerializedPortAttributes } from '../forwarding/attributes-lookup.js';
import { isValidPort } from '../forwarding/host/host-port.js';
import { RELAY_PATHS, type RelayPath } from '../forwarding/port-entry.js';
import { forwarderFiles } from './marker.js';

/** A port the user declared (forwardPorts, --forward-port), forwarded whether or not it listens yet. */
export interface DeclaredForward {
  /** Compose service that owns the port, or null for the primary container. */
  service: string | null;
  port: number;
  /** `udp` for a UDP port (`"5353/udp"`); absent for TCP. */
  protocol?: 'udp';
  /** The container the port is dialled in: the service's own container, or the primary one. */
  containerId: string;
}

/** Everything `up` tells a forwarder it starts; written to a file the daemon reads once. */
export interface DaemonSpec {
  containerId: string;
  stateDir: string;
  dockerPath: string;
  declared: DeclaredForward[];
  attributes: SerializedPortAttributes | null;
  /** Force one relay path for every port (tests and benchmarks); null lets the daemon choose. */
  relayPath: RelayPath | null;
  /** Host address listeners bind; loopback unless the user asked otherwise. */
  hostAddress: string;
  /**
   * The labels of the workspace the container was made for: when it is replaced (a rebuild), the
   * forwarder moves to the running container with these labels. Absent: it ends with its container.
   */
  follow?: Record<string, string>;
  /** Host loopback ports served inside the container (see ReversePort); absent is none. */
  reversePorts?: ReversePort[];
}

/**
 * Pure: the state dir a forwarder's spec file lies in, `<state dir>/forwarders/<container id>.spec.json`
 * as `up` writes it, or null when the path is not that. The forwarder checks this dir before it
 * reads anything in it.
 */
export function stateDirOfSpecFile(specFile: string, containerId: string): string | null {
  if (!isAbsolute(specFile) || !/^[0-9a-f]{64}$/.test(containerId)) return null;
  const root = dirname(dirname(specFile));
  return forwarderFiles(statePaths(root), containerId).spec === specFile ? root : null;
}

/** The relay paths a spec may force (see RelayPath). */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/**
 * Pure: the daemon spec in `text` (the file `source`), checked field by field and rebuilt from what
 * was checked; a StateError naming the field, its value and what was expected when it is not one.
 */
export function parseDaemonSpec(text: string, source: string): DaemonSpec {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw specError(source, `is not JSON (${errorMessage(error)})`);
  }
  const spec = objectAt(value, source, 'the spec');
  const follow = spec.follow;
  return {
    containerId: containerIdAt(spec.containerId, source, 'containerId'),
    stateDir: stringAt(spec.stateDir, source, 'stateDir', isAbsolute, 'an absolute path'),
    dockerPath: stringAt(spec.dockerPath, source, 'dockerPath', (v) => v !== '', 'a program name or path'),
    declared: arrayAt(spec.declared, source, 'declared').map((item, index) =>
      declaredAt(item, source, `declared[${index}]`),
    ),
    attributes: spec.attributes === null ? null : attributesAt(spec.attributes, source),
    relayPath:
      spec.relayPath === null
        ? null
        : oneOfAt(
            spec.relayPath,
            source,
            'relayPath',
            RELAY_PATHS,
            `null or one of ${RELAY_PATHS.join(', ')}`,
          ),
    hostAddress: stringAt(spec.hostAddress, source, 'hostAddress', (v) => isIP(v) !== 0, 'an IP address'),
    ...(follow === undefined ? {} : { follow: labelsAt(follow, source, 'follow') }),
    ...(spec.reversePorts === undefined ? {} : { reversePorts: reversePortsAt(spec.reversePorts, source) }),
  };
}

function specError(source: string, problem: string): StateError {
  return new StateError(`the forwarder spec ${source} ${problem}`, {
    description: 'Run `portpilot up` again: it writes the spec afresh.',
  });
}

function invalid(source: string, field: string, value: unknown, expected: string): never {
  const shown = JSON.stringify(value) ?? String(value);
  throw specError(
    source,
    `has ${field} ${shown.length > 80 ? `${shown.slice(0, 80)}…` : shown}; expected ${expected}`,
  );
}

function objectAt(value: unknown, source: string, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(source, field, value, 'an object');
  return value as Record<string, unknown>;
}

function arrayAt(value: unknown, source: string, field: string): unknown[] {
  if (!Array.isArray(value)) invalid(source, field, value, 'an array');
  return value;
}

function stringAt(
  value: unknown,
  source: string,
  field: string,
  check: (value: string) => boolean,
  expected: string,
): string {
  if (typeof value !== 'string' || !check(value)) invalid(source, field, value, expected);
  return value;
}

function oneOfAt<T>(
  value: unknown,
  source: string,
  field: string,
  allowed: readonly T[],
  expected: string,
): T {
  if (!allowed.includes(value as T)) invalid(source, field, value, expected);
  return value as T;
}

function containerIdAt(value: unknown, source: string, field: string): string {
  return stringAt(value, source, field, (v) => CONTAINER_ID.test(v), 'a full container id (64 hex digits)');
}

function declaredAt(value: unknown, source: string, field: string): DeclaredForward {
  const item = objectAt(value, source, field);
  const service = item.service;
  if (service !== null && (typeof service !== 'string' || service === '')) {
    invalid(source, `${field}.service`, service, 'null or a Compose service name');
  }
  if (!isValidPort(item.port as number)) invalid(source, `${field}.port`, item.port, 'a port (1-65535)');
  if (item.protocol !== undefined && item.protocol !== 'udp') {
    invalid(source, `${field}.protocol`, item.protocol, 'absent (TCP) or "udp"');
  }
  return {
    service,
    port: item.port as number,
    ...(item.protocol === 'udp' ? { protocol: 'udp' as const } : {}),
    containerId: containerIdAt(item.containerId, source, `${field}.containerId`),
  };
}

function attributesAt(value: unknown, source: string): SerializedPortAttributes {
  const attributes = objectAt(value, source, 'attributes');
  const other = attributes.otherPortsAttributes;
  return {
    portsAttributes: arrayAt(attributes.portsAttributes, source, 'attributes.portsAttributes').map(
      (item, index) => {
        const field = `attributes.portsAttributes[${index}]`;
        const entry = objectAt(item, source, field);
        const key = stringAt(entry.key, source, `${field}.key`, () => true, 'a portsAttributes key');
        return {
          key: asSpecField(source, () => (parsePortsAttributesKey(key, `${field}.key`), key)),
          attributes: asSpecField(source, () => parsePortAttributes(entry.attributes, `${field}.attributes`)),
        };
      },
    ),
    otherPortsAttributes:
      other === null
        ? null
        : asSpecField(source, () => parsePortAttributes(other, 'attributes.otherPortsAttributes')),
  };
}

function reversePortsAt(value: unknown, source: string): ReversePort[] {
  const ports = arrayAt(value, source, 'reversePorts').map((item, index) => {
    const field = `reversePorts[${index}]`;
    const entry = objectAt(item, source, field);
    for (const key of ['hostPort', 'containerPort'] as const) {
      if (!isValidPort(entry[key] as number))
        invalid(source, `${field}.${key}`, entry[key], 'a port (1-65535)');
    }
    return { hostPort: entry.hostPort as number, containerPort: entry.containerPort as number };
  });
  return asSpecField(source, () => mergeReversePorts(ports));
}

function labelsAt(value: unknown, source: string, field: string): Record<string, string> {
  const labels = objectAt(value, source, field);
  const checked: Record<string, string> = {};
  for (const [name, text] of Object.entries(labels)) {
    checked[name] = stringAt(text, source, `${field}[${JSON.stringify(name)}]`, () => true, 'a string');
  }
  return checked;
}

/** Runs a devcontainer.json validator on a spec field, its CONFIG_INVALID error turned into the spec's. */
function asSpecField<T>(source: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof UsageError) throw specError(source, `has ${error.message}`);
    throw error;
  }
}
