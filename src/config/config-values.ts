import { UsageError } from '../common/errors.js';

/** Longest rendering of an offending value in an error message, in characters. */
export const MAX_SHOWN_VALUE_CHARS = 60;

/** A JSON object as read from devcontainer.json, before validation. */
export type JsonObject = Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
// JSON.stringify escapes C0 controls and quotes; these it leaves raw.
const UNESCAPED_CONTROLS = /[\u007f-\u009f\u2028\u2029]/g;

/** Renders a value for an error message: as JSON, control characters escaped, truncated. */
export function showValue(value: unknown): string {
  const json = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  const escaped = json.replace(
    UNESCAPED_CONTROLS,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return escaped.length <= MAX_SHOWN_VALUE_CHARS
    ? escaped
    : `${escaped.slice(0, MAX_SHOWN_VALUE_CHARS - 1)}…`;
}

/** The path of a property below `parent`: `a.b`, `a["x y"]`, `a[1]`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${showValue(key)}]`;
}

/** A CONFIG_INVALID error with `fix` as its description (the config file is added by the parser). */
export function configError(message: string, fix: string): UsageError {
  return new UsageError(message, { code: 'CONFIG_INVALID', description: fix });
}

/** Throws "<path>: <value> <problem>; expected <expected>" as a CONFIG_INVALID error. */
export function invalidConfig(
  path: string,
  value: unknown,
  problem: string,
  expected: string,
  fix?: string,
): never {
  throw configError(
    `${path}: ${showValue(value)} ${problem}; expected ${expected}`,
    fix ?? `Set ${path} to ${expected}, or remove it.`,
  );
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when a property is left out (or explicitly null, which devcontainer.json treats alike). */
export function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

/** A JSON object, or a CONFIG_INVALID error naming `path`. */
export function expectObject(value: unknown, path: string, expected = 'an object'): JsonObject {
  if (!isJsonObject(value)) invalidConfig(path, value, 'is not an object', expected);
  return value;
}

/** Runs `parse`; a configuration error it raises is raised again with `source` named in its description. */
export function parsedFrom<T>(source: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof UsageError) || error.code !== 'CONFIG_INVALID') throw error;
    throw new UsageError(error.message, {
      code: 'CONFIG_INVALID',
      cause: error,
      description: `In ${source}: ${error.description ?? 'fix the property.'}`,
    });
  }
}
