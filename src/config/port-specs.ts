import { UsageError } from '../common/errors.js';
import { childPath, expectObject, invalidConfig, isAbsent, showValue } from './config-values.js';
import type { DeclaredPort, OnAutoForward, PortAttributes, PortAttributesKey } from './types.js';

/** Lowest TCP port a forward may name. */
export const MIN_PORT = 1;
/** Highest TCP port a forward may name. */
export const MAX_PORT = 65535;

const DIGITS = /^\d+$/;
const RANGE = /^(\d+)-(\d+)$/;
// Compose service names; VS Code's own pattern is ^([a-z0-9-]+):(\d{1,5})$, this also takes _ . and capitals.
const SERVICE_PORT = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(\d+)$/;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1']);
// `"5353/udp"`: the protocol after the port; `/tcp` is the default spelled out.
const PROTOCOL_SUFFIX = /^(.+)\/(tcp|udp)$/;

const FORWARD_PORT_EXPECTED = 'a number 1-65535, "service:port" or either with "/udp" after it';
const KEY_EXPECTED =
  'a port 1-65535, a range "from-to", "service:port" (any of them with "/udp" after it) or a regular expression';
const ON_AUTO_FORWARD: readonly OnAutoForward[] = [
  'notify',
  'silent',
  'ignore',
  'openBrowser',
  'openBrowserOnce',
  'openPreview',
];

/** The port a JSON number or digit string names, or null when it is not an integer 1-65535. */
export function toPort(value: unknown): number | null {
  const port = typeof value === 'string' && DIGITS.test(value) ? Number(value) : value;
  return typeof port === 'number' && Number.isInteger(port) && port >= MIN_PORT && port <= MAX_PORT
    ? port
    : null;
}

/**
 * Reads `3000`, `"3000"` or `"service:port"` (`localhost:` meaning the dev container), any string
 * of them with `/udp` (a UDP port) or `/tcp` after it; null if malformed.
 */
export function toDeclaredPort(value: unknown): DeclaredPort | null {
  const suffix = typeof value === 'string' ? PROTOCOL_SUFFIX.exec(value) : null;
  if (suffix) {
    const declared = toTcpDeclaredPort(suffix[1]);
    return declared && suffix[2] === 'udp' ? { ...declared, protocol: 'udp' } : declared;
  }
  return toTcpDeclaredPort(value);
}

function toTcpDeclaredPort(value: unknown): DeclaredPort | null {
  const port = toPort(value);
  if (port !== null) return { service: null, port };
  const match = typeof value === 'string' ? SERVICE_PORT.exec(value) : null;
  if (!match) return null;
  const servicePort = toPort(match[2]);
  if (servicePort === null) return null;
  return { service: LOOPBACK_HOSTS.has(match[1]) ? null : match[1], port: servicePort };
}

/** Parses the CLI's `--forward-port PORT|SERVICE:PORT`. */
export function parseForwardPortSpec(spec: string): DeclaredPort {
  const declared = toDeclaredPort(spec);
  if (declared) return declared;
  throw new UsageError(
    `--forward-port ${showValue(spec)} is not a port; expected PORT (1-65535) or SERVICE:PORT, with /udp after it for UDP`,
    {
      description:
        'Pass a port number such as --forward-port 3000, a Compose service port such as db:5432, or a UDP port such as 5353/udp.',
    },
  );
}

/** Parses the forwardPorts array, dropping repeats. */
export function parseForwardPorts(value: unknown, path: string): DeclaredPort[] {
  if (isAbsent(value)) return [];
  if (!Array.isArray(value))
    invalidConfig(path, value, 'is not an array', `an array of ${FORWARD_PORT_EXPECTED}`);
  const ports: DeclaredPort[] = [];
  value.forEach((item: unknown, index) => {
    const declared = toDeclaredPort(item);
    if (!declared) invalidConfig(childPath(path, index), item, 'is not a port', FORWARD_PORT_EXPECTED);
    if (!ports.some((p) => sameDeclaredPort(p, declared))) ports.push(declared);
  });
  return ports;
}

/** Pure: the same port of the same service over the same protocol. */
export function sameDeclaredPort(a: DeclaredPort, b: DeclaredPort): boolean {
  return a.service === b.service && a.port === b.port && a.protocol === b.protocol;
}

/**
 * Reads a portsAttributes key the way VS Code does: port, range, "service:port", else a regex. A
 * port, range or service key may end in `/udp` (UDP ports only) or `/tcp` (the default).
 */
export function parsePortsAttributesKey(
  key: string,
  path = childPath('portsAttributes', key),
): PortAttributesKey {
  const suffix = PROTOCOL_SUFFIX.exec(key);
  if (suffix && (DIGITS.test(suffix[1]) || RANGE.test(suffix[1]) || SERVICE_PORT.test(suffix[1]))) {
    const parsed = parseTcpKey(suffix[1], path);
    return suffix[2] === 'udp' && parsed.kind !== 'regex' ? { ...parsed, protocol: 'udp' } : parsed;
  }
  return parseTcpKey(key, path);
}

function parseTcpKey(key: string, path: string): PortAttributesKey {
  if (DIGITS.test(key)) {
    const port = toPort(key);
    if (port === null) invalidConfig(path, key, 'is not a port', KEY_EXPECTED);
    return { kind: 'port', port };
  }
  const range = RANGE.exec(key);
  if (range) {
    const from = toPort(range[1]);
    const to = toPort(range[2]);
    if (from === null || to === null || from > to) {
      invalidConfig(path, key, 'is not a port range', '"from-to" with 1 <= from <= to <= 65535');
    }
    return { kind: 'range', from, to };
  }
  const servicePort = SERVICE_PORT.exec(key);
  if (servicePort) {
    const declared = toDeclaredPort(key);
    if (!declared) invalidConfig(path, key, 'is not a port', KEY_EXPECTED);
    return declared.service === null
      ? { kind: 'port', port: declared.port }
      : { kind: 'service', service: declared.service, port: declared.port };
  }
  try {
    return { kind: 'regex', source: key, regex: new RegExp(key) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return invalidConfig(path, key, `is not a valid regular expression (${reason})`, KEY_EXPECTED);
  }
}

/** Validates one portsAttributes value (or otherPortsAttributes); unknown options are ignored. */
export function parsePortAttributes(value: unknown, path: string): PortAttributes {
  const object = expectObject(value, path, 'an object of port options such as {"label": "App"}');
  const attributes: PortAttributes = {};
  const { label, protocol, onAutoForward, requireLocalPort, elevateIfNeeded } = object;
  if (!isAbsent(label)) {
    if (typeof label !== 'string')
      invalidConfig(childPath(path, 'label'), label, 'is not a string', 'a string');
    attributes.label = label;
  }
  if (!isAbsent(protocol)) {
    if (protocol !== 'http' && protocol !== 'https') {
      invalidConfig(childPath(path, 'protocol'), protocol, 'is not a protocol', '"http" or "https"');
    }
    attributes.protocol = protocol;
  }
  if (!isAbsent(onAutoForward)) {
    if (!ON_AUTO_FORWARD.includes(onAutoForward as OnAutoForward)) {
      const expected = `one of ${ON_AUTO_FORWARD.map((a) => `"${a}"`).join(', ')}`;
      invalidConfig(
        childPath(path, 'onAutoForward'),
        onAutoForward,
        'is not an onAutoForward action',
        expected,
      );
    }
    attributes.onAutoForward = onAutoForward as OnAutoForward;
  }
  for (const [name, flag] of [
    ['requireLocalPort', requireLocalPort],
    ['elevateIfNeeded', elevateIfNeeded],
  ] as const) {
    if (isAbsent(flag)) continue;
    if (typeof flag !== 'boolean')
      invalidConfig(childPath(path, name), flag, 'is not a boolean', 'true or false');
    attributes[name] = flag;
  }
  return attributes;
}
