import path from 'node:path';
import {
  childPath,
  configError,
  expectObject,
  invalidConfig,
  isAbsent,
  optionalString,
  stringArray,
  stringRecord,
  type JsonObject,
} from './config-values.js';
import type { ContainerSource } from './types.js';

/**
 * Reads where the container comes from: `dockerComposeFile` (with `service`), else `build.dockerfile`
 * (or the older top-level `dockerFile`), else `image`, in the Dev Containers CLI's order. Paths resolve
 * against the folder holding the config file; the build context defaults to the Dockerfile's folder.
 */
export function parseContainerSource(config: JsonObject, configFile: string): ContainerSource {
  const configFolder = path.dirname(configFile);
  if (!isAbsent(config.dockerComposeFile)) return parseComposeSource(config, configFolder);

  const build = isAbsent(config.build) ? null : expectObject(config.build, 'build');
  const dockerfile = build && !isAbsent(build.dockerfile) ? build.dockerfile : config.dockerFile;
  if (!isAbsent(dockerfile)) {
    const dockerfilePath = build && !isAbsent(build.dockerfile) ? 'build.dockerfile' : 'dockerFile';
    const dockerfileAbs = path.resolve(
      configFolder,
      nonEmptyString(dockerfile, dockerfilePath, 'a Dockerfile path'),
    );
    const contextValue = build && !isAbsent(build.context) ? build.context : config.context;
    const contextPath = build && !isAbsent(build.context) ? 'build.context' : 'context';
    const context = isAbsent(contextValue)
      ? path.dirname(dockerfileAbs)
      : path.resolve(configFolder, nonEmptyString(contextValue, contextPath, 'a folder path'));
    return {
      kind: 'dockerfile',
      dockerfile: dockerfileAbs,
      context,
      args: stringRecord(build?.args, 'build.args'),
      target: optionalString(build?.target, 'build.target'),
    };
  }

  if (!isAbsent(config.image)) {
    return { kind: 'image', image: nonEmptyString(config.image, 'image', 'an image name') };
  }
  throw configError(
    'devcontainer.json has no "image", "build.dockerfile" or "dockerComposeFile"; expected one of them',
    'Add "image": "mcr.microsoft.com/devcontainers/base:ubuntu" (or a "build" with a "dockerfile", or ' +
      '"dockerComposeFile" with "service").',
  );
}

function parseComposeSource(config: JsonObject, configFolder: string): ContainerSource {
  const value = config.dockerComposeFile;
  const list = typeof value === 'string' ? [value] : value;
  const expected = 'a Compose file path or a non-empty array of them';
  if (!Array.isArray(list) || list.length === 0)
    invalidConfig('dockerComposeFile', value, 'is not a file list', expected);
  const files = list.map((file: unknown, index) => {
    const filePath = typeof value === 'string' ? 'dockerComposeFile' : childPath('dockerComposeFile', index);
    return path.resolve(configFolder, nonEmptyString(file, filePath, 'a Compose file path'));
  });
  if (isAbsent(config.service)) {
    throw configError(
      'service is missing; expected the name of the Compose service to work in',
      'Add "service": "<name>" naming the service in your Compose file that is the dev container.',
    );
  }
  const service = nonEmptyString(config.service, 'service', 'a Compose service name');
  const runServices = isAbsent(config.runServices) ? null : stringArray(config.runServices, 'runServices');
  return { kind: 'compose', files, service, runServices };
}

function nonEmptyString(value: unknown, propertyPath: string, expected: string): string {
  if (typeof value !== 'string') invalidConfig(propertyPath, value, 'is not a string', expected);
  if (value === '') invalidConfig(propertyPath, value, 'is empty', expected);
  return value;
}
