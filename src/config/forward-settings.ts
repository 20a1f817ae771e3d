import { childPath, invalidConfig, isAbsent, isJsonObject, parsedFrom } from './config-values.js';
import { parseForwardPorts, parsePortAttributes, parsePortsAttributesKey } from './port-specs.js';
import type { DeclaredPort, PortAttributes, PortAttributesKey } from './types.js';

/** What steers forwarding in a dev container's configuration. */
export interface ForwardSettings {
  forwardPorts: DeclaredPort[];
  portsAttributes: Array<{ key: PortAttributesKey; attributes: PortAttributes }>;
  otherPortsAttributes: PortAttributes | null;
}

/** No configuration: nothing declared, no attributes. */
export const NO_FORWARD_SETTINGS: ForwardSettings = {
  forwardPorts: [],
  portsAttributes: [],
  otherPortsAttributes: null,
};

/**
 * Pure: forwardPorts, portsAttributes and otherPortsAttributes of a configuration as the reference
 * CLI merged it (devcontainer.json, its features and the image's `devcontainer.metadata`).
 * `source` names where it came from in a CONFIG_INVALID error.
 */
export function parseForwardSettings(configuration: unknown, source: string): ForwardSettings {
  if (!isJsonObject(configuration)) return NO_FORWARD_SETTINGS;
  return parsedFrom(source, () => ({
    forwardPorts: parseForwardPorts(configuration.forwardPorts, 'forwardPorts'),
    portsAttributes: parsePortsAttributes(configuration.portsAttributes, 'portsAttributes'),
    otherPortsAttributes: isAbsent(configuration.otherPortsAttributes)
      ? null
      : parsePortAttributes(configuration.otherPortsAttributes, 'otherPortsAttributes'),
  }));
}

function parsePortsAttributes(
  value: unknown,
  propertyPath: string,
): Array<{ key: PortAttributesKey; attributes: PortAttributes }> {
  if (isAbsent(value)) return [];
  if (!isJsonObject(value)) {
    invalidConfig(
      propertyPath,
      value,
      'is not an object',
      'an object mapping ports, ranges or regexes to options',
    );
  }
  return Object.entries(value).map(([key, attributes]) => {
    const entryPath = childPath(propertyPath, key);
    return {
      key: parsePortsAttributesKey(key, entryPath),
      attributes: parsePortAttributes(attributes, entryPath),
    };
  });
}
