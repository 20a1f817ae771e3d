import path from 'node:path';
import { UsageError } from '../common/errors.js';
import { referenceCommand, referenceEnv } from '../devcontainer/reference-cli.js';
import { Docker } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import type { AttachedRunner } from '../workspace/attached-process.js';
import { readLabelledWorkspace } from '../workspace/labelled-config.js';
import type { CommonOptions } from './forwarder-options.js';
import { refuseBothScopes } from './scope.js';
import { attach } from './start-forwarding.js';
import type { Log } from '../common/log.js';

/** What `exec` is asked to run, and where. */
export interface ExecOptions extends CommonOptions {
  containerId: string | null;
  /** The workspace folder; null (with no containerId) means the current directory. */
  workspaceFolder: string | null;
  config: string | null;
  /** The command and its arguments, after any flags for the reference CLI's exec, as given. */
  command: string[];
}

/** What `exec` runs things with. */
export interface ExecDeps {
  runner: ProcessRunner;
  attached: AttachedRunner;
  env: Readonly<Record<string, string | undefined>>;
  /** Where a warning goes (stderr): labels that are not followed, say. */
  warn: Log;
}

/**
 * Runs a command in the dev container with the reference CLI's `exec` (remoteUser, remoteEnv,
 * userEnvProbe, the workspace folder), on our stdin, stdout and stderr; resolves with its exit code.
 * A container named by --container-id whose labels name a workspace (its config file inside its
 * folder) runs the command with that workspace's configuration.
 */
export async function execInContainer(options: ExecOptions, deps: ExecDeps): Promise<number> {
  if (options.command.length === 0) {
    throw new UsageError('exec needs a command', { description: 'Example: portpilot exec bash -l' });
  }
  refuseBothScopes(options);
  const scope: string[] = [];
  if (options.containerId !== null) {
    const docker = new Docker(deps.runner, options.dockerPath);
    const container = await attach(docker, options.containerId);
    scope.push('--container-id', container.id);
    const workspace = await readLabelledWorkspace(docker, container, deps.warn);
    if (workspace)
      scope.push('--workspace-folder', workspace.workspaceFolder, '--config', workspace.configFile);
  } else if (options.workspaceFolder !== null) {
    scope.push('--workspace-folder', path.resolve(options.workspaceFolder));
  }
  if (options.config !== null) scope.push('--config', path.resolve(options.config));
  return deps.attached(
    process.execPath,
    referenceCommand('exec', [...scope, ...options.command]),
    referenceEnv(deps.env, options.dockerPath),
  );
}
