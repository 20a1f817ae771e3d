import { matchPortAttributes } from '../config/port-attributes.js';
import { parsePortsAttributesKey } from '../config/port-specs.js';
import type { ForwardSettings } from '../config/forward-settings.js';
import type { PortAttributes, PortAttributesKey } from '../config/types.js';

/** portsAttributes in a form that survives JSON: each key as its devcontainer.json text. */
export interface SerializedPortAttributes {
  portsAttributes: Array<{ key: string; attributes: PortAttributes }>;
  otherPortsAttributes: PortAttributes | null;
}

/** Finds the attributes for a port: its container port, the listening command line, its Compose service. */
export type PortAttributesLookup = (
  port: number,
  processCommandLine: string | null,
  service: string | null,
  protocol?: 'tcp' | 'udp',
) => PortAttributes;

/** The lookup when no devcontainer.json steers forwarding. */
export const NO_ATTRIBUTES: PortAttributesLookup = () => ({});

/** portsAttributes as the daemon receives them (regexes do not survive JSON; their source does). */
export function serializeAttributes(
  config: Pick<ForwardSettings, 'portsAttributes' | 'otherPortsAttributes'>,
): SerializedPortAttributes {
  return {
    portsAttributes: config.portsAttributes.map(({ key, attributes }) => ({ key: keyText(key), attributes })),
    otherPortsAttributes: config.otherPortsAttributes,
  };
}

/** The daemon's lookup, rebuilt from what `up` serialized, matching as VS Code does. */
export function attributesLookup(spec: SerializedPortAttributes | null): PortAttributesLookup {
  if (!spec) return NO_ATTRIBUTES;
  const config = {
    portsAttributes: spec.portsAttributes.map(({ key, attributes }) => ({
      key: parsePortsAttributesKey(key),
      attributes,
    })),
    otherPortsAttributes: spec.otherPortsAttributes,
  };
  return (port, processCommandLine, service, protocol = 'tcp') =>
    matchPortAttributes(config, port, processCommandLine, service, protocol).attributes;
}

function keyText(key: PortAttributesKey): string {
  if (key.kind !== 'regex' && key.protocol === 'udp')
    return `${keyText({ ...key, protocol: undefined })}/udp`;
  switch (key.kind) {
    case 'port':
      return String(key.port);
    case 'range':
      return `${key.from}-${key.to}`;
    case 'service':
      return `${key.service}:${key.port}`;
    case 'regex':
      return key.source;
  }
}
