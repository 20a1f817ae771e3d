import type { SerializedPortAttributes } from '../daemon/daemon-spec.js';

/** The attributes that steer one port's forwarding (a subset of devcontainer.json's portsAttributes). */
export interface ForwardAttributes {
  label?: string;
  protocol?: 'http' | 'https';
  onAutoForward?: string;
  requireLocalPort?: boolean;
  elevateIfNeeded?: boolean;
}

/** Finds the attributes for a container port, given the listening process's command line when known. */
export type PortAttributesLookup = (port: number, processCommandLine: string | null) => ForwardAttributes;

/** The lookup when no devcontainer.json steers forwarding. */
export const NO_ATTRIBUTES: PortAttributesLookup = () => ({});

/** Placeholder until the config module's matcher is wired: exact port keys only. */
export function attributesLookup(spec: SerializedPortAttributes | null): PortAttributesLookup {
  if (!spec) return NO_ATTRIBUTES;
  return (port) => {
    const exact = spec.portsAttributes.find((p) => p.key.kind === 'port' && p.key.port === port);
    return (exact?.attributes ?? spec.otherPortsAttributes ?? {}) as ForwardAttributes;
  };
}
