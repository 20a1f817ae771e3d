import { dirname, isAbsolute } from 'node:path';
import { statePaths } from '../common/state-dir.js';
import type { PortAttributes } from '../config/types.js';
import type { RelayPath } from '../forwarding/port-entry.js';
import { forwarderFiles } from './marker.js';

/** A port the user declared (forwardPorts, --forward-port), forwarded whether or not it listens yet. */
export interface DeclaredForward {
  /** Compose service that owns the port, or null for the primary container. */
  service: string | null;
  port: number;
  /** The container the port is dialled in: the service's own container, or the primary one. */
  containerId: string;
}

/** portsAttributes in a form that survives JSON: each key as its devcontainer.json text. */
export interface SerializedPortAttributes {
  portsAttributes: Array<{ key: string; attributes: PortAttributes }>;
  otherPortsAttributes: PortAttributes | null;
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
