import type { RelayPath } from '../forwarding/port-entry.js';

/** A port the user declared (forwardPorts, --forward-port), forwarded whether or not it listens yet. */
export interface DeclaredForward {
  /** Compose service that owns the port, or null for the primary container. */
  service: string | null;
  port: number;
  /** The container the port is dialled in: the service's own container, or the primary one. */
  containerId: string;
}

/** portsAttributes in a form that survives JSON (regex keys as their source). */
export interface SerializedPortAttributes {
  portsAttributes: Array<{
    key: { kind: 'port'; port: number } | { kind: 'range'; from: number; to: number } | { kind: 'regex'; source: string };
    attributes: Record<string, unknown>;
  }>;
  otherPortsAttributes: Record<string, unknown> | null;
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
}
