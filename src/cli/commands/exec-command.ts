import { Command } from 'commander';
import { execInContainer } from '../../operations/exec.js';
import { localRunner } from '../../runtime/process-runner.js';
import { runAttached } from '../../workspace/attached-process.js';
import {
  commonOptions,
  progress,
  reportFailure,
  stateDirOption,
  DOCKER_PATH_HELP,
} from '../command-context.js';

interface ExecFlags {
  containerId?: string;
  workspaceFolder?: string;
  config?: string;
}

/** `portpilot exec`: run a command in the dev container, its stdio and exit code passed through. */
export function execCommand(): Command {
  return new Command('exec')
    .description(
      "Run a command in the dev container with the Dev Containers CLI's exec; stdin, stdout, stderr and the exit code are the command's",
    )
    .usage('[--container-id ID | --workspace-folder DIR] [devcontainer exec flags] CMD [ARGS...]')
    .argument(
      '<command...>',
      'the command and its arguments (flags of the Dev Containers CLI exec may come first)',
    )
    .option(
      '--container-id <id>',
      'run in this running container (with its workspace configuration when its labels name one)',
    )
    .option('--workspace-folder <dir>', "run in the workspace's dev container (default: current directory)")
    .option('--config <file>', 'a devcontainer.json outside the workspace')
    .option('--docker-path <path>', DOCKER_PATH_HELP)
    .addOption(stateDirOption())
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (command: string[], flags: ExecFlags, self: Command) => {
      try {
        process.exitCode = await execInContainer(
          {
            ...commonOptions(self),
            containerId: flags.containerId ?? null,
            workspaceFolder: flags.workspaceFolder ?? null,
            config: flags.config ?? null,
            command,
          },
          {
            runner: localRunner,
            attached: runAttached,
            env: process.env,
            warn: progress,
          },
        );
      } catch (error) {
        reportFailure(error);
      }
    });
}
