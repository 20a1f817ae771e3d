import type { ForwardSettings } from './forward-settings.js';
import type { PortAttributes, PortAttributesKey } from './types.js';

/** Which kind of portsAttributes key supplied a port's attributes. */
export type PortAttributesMatch = 'port' | 'service' | 'range' | 'regex' | 'other' | 'none';

/** The attributes that apply to one port, and where they came from. */
export interface MatchedPortAttributes {
  attributes: PortAttributes;
  matchedBy: PortAttributesMatch;
}

const ATTRIBUTE_NAMES = [
  'label',
  'protocol',
  'onAutoForward',
  'requireLocalPort',
  'elevateIfNeeded',
] as const;

/**
 * Finds the attributes for a container port the way VS Code does: every matching key contributes, and
 * for each option an exact key (`"3000"`, or `"db:5432"` for another service's port) beats a range,
 * which beats a regex tested against the listening process's command line (only when it is known).
 * Ranges go by their start, lowest first, as VS Code sorts them; regexes go in the config's order.
 * `otherPortsAttributes` applies only when no matching key sets anything.
 *
 * `service` is the Compose service when the port is on a container other than the dev container
 * (forwardPorts' `"db:5432"`); number and range keys, like VS Code's for non-localhost hosts, then do
 * not apply. A port, range or service key applies to its own protocol only (`"5353/udp"` to UDP,
 * `"5353"` to TCP); a regex and `otherPortsAttributes` to both.
 */
export function matchPortAttributes(
  config: Pick<ForwardSettings, 'portsAttributes' | 'otherPortsAttributes'>,
  port: number,
  processCommandLine: string | null,
  service: string | null = null,
  protocol: 'tcp' | 'udp' = 'tcp',
): MatchedPortAttributes {
  const matches = config.portsAttributes
    .filter(
      (entry) =>
        (entry.key.kind === 'regex' || (entry.key.protocol ?? 'tcp') === protocol) &&
        keyMatches(entry.key, port, processCommandLine, service),
    )
    .sort((a, b) => rank(a.key) - rank(b.key) || rangeStart(a.key) - rangeStart(b.key));

  const attributes: PortAttributes = {};
  for (const name of ATTRIBUTE_NAMES) {
    const found = matches.find((entry) => entry.attributes[name] !== undefined);
    if (found) Object.assign(attributes, { [name]: found.attributes[name] });
  }
  const best = matches.find((entry) => ATTRIBUTE_NAMES.some((name) => entry.attributes[name] !== undefined));
  if (best) return { attributes, matchedBy: best.key.kind };
  if (config.otherPortsAttributes)
    return { attributes: { ...config.otherPortsAttributes }, matchedBy: 'other' };
  return { attributes: {}, matchedBy: 'none' };
}

function keyMatches(
  key: PortAttributesKey,
  port: number,
  commandLine: string | null,
  service: string | null,
) {
  switch (key.kind) {
    case 'port':
      return service === null && key.port === port;
    case 'range':
      return service === null && key.from <= port && port <= key.to;
    case 'service':
      return service === key.service && key.port === port;
    case 'regex':
      return commandLine !== null && key.regex.test(commandLine);
  }
}

function rank(key: PortAttributesKey): number {
  return key.kind === 'port' || key.kind === 'service' ? 0 : key.kind === 'range' ? 1 : 2;
}

function rangeStart(key: PortAttributesKey): number {
  return key.kind === 'range' ? key.from : 0;
}
