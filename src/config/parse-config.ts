import path from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { UsageError } from '../common/errors.js';
import {
  childPath,
  configError,
  invalidConfig,
  isAbsent,
  isJsonObject,
  optionalBoolean,
  optionalString,
  stringArray,
  stringRecord,
  type JsonObject,
} from './config-values.js';
import { parseContainerSource } from './container-source.js';
import { parseLifecycleCommand } from './lifecycle.js';
import {
  parseAppPorts,
  parseForwardPorts,
  parsePortAttributes,
  parsePortsAttributesKey,
} from './port-specs.js';
import { substituteString, substituteValues, type SubstitutionContext } from './substitute-variables.js';
import type { DevContainerConfig, PortAttributes, PortAttributesKey } from './types.js';

export { parseForwardPortSpec } from './port-specs.js';

/** Where the workspace is mounted in an image or Dockerfile container, unless the config says otherwise. */
export const DEFAULT_WORKSPACES_ROOT = '/workspaces';

/** The workspace folder of a Compose dev container when the config names none (Dev Containers CLI). */
export const DEFAULT_COMPOSE_WORKSPACE_FOLDER = '/';

/**
 * Parses devcontainer.json text (comments and trailing commas allowed) into a validated config with
 * defaults filled in and `${…}` variables substituted; `env` is what `${localEnv:NAME}` reads.
 * Unknown properties are ignored; a malformed one throws UsageError 'CONFIG_INVALID' naming it.
 */
export function parseDevContainerConfig(
  text: string,
  configFile: string,
  workspaceFolderHost: string,
  env: Readonly<Record<string, string | undefined>> = {},
): DevContainerConfig {
  try {
    return buildConfig(text, configFile, workspaceFolderHost, env);
  } catch (error) {
    if (!(error instanceof UsageError) || error.code !== 'CONFIG_INVALID') throw error;
    throw new UsageError(error.message, {
      code: 'CONFIG_INVALID',
      cause: error,
      description: `In ${configFile}: ${error.description ?? 'fix the property.'}`,
    });
  }
}

function buildConfig(
  text: string,
  configFile: string,
  workspaceFolderHost: string,
  env: Readonly<Record<string, string | undefined>>,
): DevContainerConfig {
  const label = path.basename(configFile);
  const raw = parseJsonc(text, configFile);
  if (!isJsonObject(raw))
    invalidConfig(label, raw, 'is not an object', 'a JSON object of devcontainer.json properties');

  const isCompose = !isAbsent(raw.dockerComposeFile);
  const local: SubstitutionContext = {
    localWorkspaceFolder: workspaceFolderHost,
    containerWorkspaceFolder: null,
    env,
  };
  const workspaceFolder = parseWorkspaceFolder(raw.workspaceFolder, isCompose, local);
  const config = substituteValues(raw, { ...local, containerWorkspaceFolder: workspaceFolder }) as JsonObject;

  return {
    configFile,
    workspaceFolderHost,
    name: optionalString(config.name, 'name'),
    source: parseContainerSource(config, configFile),
    workspaceFolder,
    workspaceMount: isCompose ? null : parseWorkspaceMount(config.workspaceMount, workspaceFolderHost),
    containerEnv: stringRecord(config.containerEnv, 'containerEnv'),
    runArgs: stringArray(config.runArgs, 'runArgs'),
    mounts: parseMounts(config.mounts, 'mounts'),
    appPort: parseAppPorts(config.appPort, 'appPort'),
    overrideCommand: optionalBoolean(config.overrideCommand, 'overrideCommand', !isCompose),
    forwardPorts: parseForwardPorts(config.forwardPorts, 'forwardPorts'),
    portsAttributes: parsePortsAttributes(config.portsAttributes, 'portsAttributes'),
    otherPortsAttributes: isAbsent(config.otherPortsAttributes)
      ? null
      : parsePortAttributes(config.otherPortsAttributes, 'otherPortsAttributes'),
    onCreateCommand: parseLifecycleCommand(config.onCreateCommand, 'onCreateCommand'),
    postCreateCommand: parseLifecycleCommand(config.postCreateCommand, 'postCreateCommand'),
    postStartCommand: parseLifecycleCommand(config.postStartCommand, 'postStartCommand'),
    remoteUser: optionalString(config.remoteUser, 'remoteUser'),
    containerUser: optionalString(config.containerUser, 'containerUser'),
  };
}

function parseJsonc(text: string, configFile: string): unknown {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const errors: ParseError[] = [];
  const value: unknown = parse(source, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length === 0) return value;
  const { line, column } = lineColumn(source, errors[0].offset);
  throw configError(
    `${configFile}:${line}:${column}: syntax error (${printParseErrorCode(errors[0].error)}); expected JSON, ` +
      'where comments and trailing commas are allowed',
    `Fix the JSON at line ${line}, column ${column}.`,
  );
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

function parseWorkspaceFolder(value: unknown, isCompose: boolean, context: SubstitutionContext): string {
  if (isAbsent(value)) {
    return isCompose
      ? DEFAULT_COMPOSE_WORKSPACE_FOLDER
      : path.posix.join(DEFAULT_WORKSPACES_ROOT, path.basename(context.localWorkspaceFolder));
  }
  const expected = 'an absolute path in the container, such as "/workspaces/app"';
  if (typeof value !== 'string') invalidConfig('workspaceFolder', value, 'is not a string', expected);
  const folder = substituteString(value, context);
  if (!folder.startsWith('/')) invalidConfig('workspaceFolder', folder, 'is not an absolute path', expected);
  return folder;
}

// The Dev Containers CLI's default: bind the workspace at /workspaces/<basename>, quoting paths with commas.
function parseWorkspaceMount(value: unknown, workspaceFolderHost: string): string | null {
  if (isAbsent(value)) {
    const target = path.posix.join(DEFAULT_WORKSPACES_ROOT, path.basename(workspaceFolderHost));
    const quote = (text: string) => (text.includes(',') ? `"${text}"` : text);
    return `type=bind,${quote(`source=${workspaceFolderHost}`)},${quote(`target=${target}`)}`;
  }
  if (typeof value !== 'string') {
    invalidConfig(
      'workspaceMount',
      value,
      'is not a string',
      'a --mount value such as "type=bind,source=…,target=…"',
    );
  }
  return value === '' ? null : value;
}

function parseMounts(value: unknown, propertyPath: string): string[] {
  if (isAbsent(value)) return [];
  const expected = 'a --mount string or {"type": "bind"|"volume", "source": …, "target": …}';
  if (!Array.isArray(value)) invalidConfig(propertyPath, value, 'is not an array', `an array of ${expected}`);
  return value.map((mount: unknown, index) => {
    const mountPath = childPath(propertyPath, index);
    if (typeof mount === 'string' && mount !== '') return mount;
    if (!isJsonObject(mount)) return invalidConfig(mountPath, mount, 'is not a mount', expected);
    const { type, source, target } = mount;
    if (type !== 'bind' && type !== 'volume')
      invalidConfig(childPath(mountPath, 'type'), type, 'is not a mount type', '"bind" or "volume"');
    if (typeof target !== 'string' || target === '')
      invalidConfig(childPath(mountPath, 'target'), target, 'is not a path', 'a path in the container');
    if (!isAbsent(source) && typeof source !== 'string')
      invalidConfig(childPath(mountPath, 'source'), source, 'is not a string', 'a string');
    return isAbsent(source) ? `type=${type},dst=${target}` : `type=${type},src=${source},dst=${target}`;
  });
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
