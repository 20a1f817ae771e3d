import { PortpilotError, UsageError } from '../common/errors.js';
import { readDevContainerConfig } from '../config/read-config.js';
import { Docker } from '../runtime/docker.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import type { AttachedRunner } from '../workspace/attached-process.js';
import { readComposeProjectName } from '../workspace/compose.js';
import { dockerExecArgs, workspaceExecSettings, type ExecSettings } from '../workspace/exec-args.js';
import { findWorkspaceContainers } from '../workspace/find-container.js';
import { readLabelledConfig } from '../workspace/labelled-config.js';
import { withPassedEnv } from '../workspace/passed-env.js';
import type { CommonOptions } from './forwarder-options.js';
import { attach } from './up.js';

/** What `exec` is asked to run, and where. */
export interface ExecOptions extends CommonOptions {
  containerId: string | null;
  /** The workspace folder; null (with no containerId) means the current directory. */
  workspaceFolder: string | null;
  config: string | null;
  /** The command and its arguments. */
  command: string[];
  /** Allocate a terminal: only when our stdin and stdout both are terminals. */
  tty: boolean;
}

/** What `exec` runs things with. */
export interface ExecDeps {
  runner: ProcessRunner;
  attached: AttachedRunner;
  env: Readonly<Record<string, string | undefined>>;
  /** Warnings for the user (stderr). */
  warn: (message: string) => void;
}

/**
 * Runs a command in the dev container with our stdin, stdout and stderr; resolves with its exit code.
 * In a workspace's container it runs in workspaceFolder, with containerEnv, as remoteUser: also when
 * the container is named by --container-id and its labels lead to its workspace's devcontainer.json.
 */
export async function execInContainer(options: ExecOptions, deps: ExecDeps): Promise<number> {
  if (options.command.length === 0) {
    throw new UsageError('exec needs a command', { description: 'Example: portpilot exec -- bash -l' });
  }
  if (options.containerId !== null && options.workspaceFolder !== null) {
    throw new UsageError('give --container-id or --workspace-folder, not both');
  }
  const docker = new Docker(deps.runner, options.dockerPath);
  let containerId: string;
  let settings: Omit<ExecSettings, 'interactive' | 'tty'> = { workdir: null, env: {}, user: null };
  if (options.containerId !== null) {
    const container = await attach(docker, options.containerId);
    containerId = container.id;
    const config = await readLabelledConfig(docker, container, deps.env, deps.warn);
    if (config) settings = workspaceExecSettings(config);
  } else {
    const folder = options.workspaceFolder ?? process.cwd();
    const config = await readDevContainerConfig(folder, options.config ?? undefined, deps.env);
    const project =
      config.source.kind === 'compose' ? await readComposeProjectName(config, config.source, deps.env) : null;
    const [container] = await findWorkspaceContainers(docker, config, project);
    if (!container?.running) {
      throw new PortpilotError(
        container ? 'CONTAINER_NOT_RUNNING' : 'CONTAINER_NOT_FOUND',
        container
          ? `the dev container of ${config.workspaceFolderHost} is ${container.status}, not running`
          : `${config.workspaceFolderHost} has no dev container`,
        { description: `Bring it up first: portpilot up --workspace-folder ${config.workspaceFolderHost}` },
      );
    }
    containerId = container.id;
    settings = workspaceExecSettings(config);
  }
  const flags = { ...settings, interactive: true, tty: options.tty };
  return withPassedEnv(settings.env, (passed) =>
    deps.attached(
      options.dockerPath,
      dockerExecArgs(containerId, options.command, flags, passed.flags),
      passed.processEnv,
    ),
  );
}
