import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { RuntimeError } from '../common/errors.js';
import type { ContainerSource, DevContainerConfig } from '../config/types.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import { lastLines, runStreamed } from './stream-command.js';

type DockerfileSource = Extract<ContainerSource, { kind: 'dockerfile' }>;

/** Hex digits of the workspace hash in a built image's tag. */
export const IMAGE_TAG_HASH_CHARS = 12;

/**
 * The tag a workspace's Dockerfile image is built as: `portpilot-<basename>-<hash>`, the hash over the
 * workspace folder and config file, so that one workspace always rebuilds the same tag and two never share one.
 */
export function imageTagFor(config: Pick<DevContainerConfig, 'workspaceFolderHost' | 'configFile'>): string {
  const slug =
    path
      .basename(config.workspaceFolderHost)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'workspace';
  const hash = createHash('sha256')
    .update(`${config.workspaceFolderHost}\0${config.configFile}`)
    .digest('hex')
    .slice(0, IMAGE_TAG_HASH_CHARS);
  return `portpilot-${slug}-${hash}`;
}

/** The `docker build` argv (without the CLI itself) for a Dockerfile source. */
export function dockerBuildArgs(source: DockerfileSource, tag: string): string[] {
  const args = ['build', '-f', source.dockerfile, '-t', tag];
  if (source.target) args.push('--target', source.target);
  for (const [key, value] of Object.entries(source.args)) args.push('--build-arg', `${key}=${value}`);
  args.push(source.context);
  return args;
}

/** Builds the workspace's image, streaming the build's output to `output`; resolves to its tag. */
export async function buildImage(
  runner: ProcessRunner,
  dockerPath: string,
  config: Pick<DevContainerConfig, 'workspaceFolderHost' | 'configFile'>,
  source: DockerfileSource,
  output: Writable,
): Promise<string> {
  const tag = imageTagFor(config);
  const result = await runStreamed(runner, dockerPath, dockerBuildArgs(source, tag), output);
  if (result.exitCode !== 0) {
    throw new RuntimeError(`building ${source.dockerfile} failed (exit code ${result.exitCode})`, {
      description: `${lastLines(result.tail)}\nFix the Dockerfile or build.args/build.target in the config.`,
    });
  }
  return tag;
}
