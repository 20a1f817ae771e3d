import { Command } from 'commander';
import { UsageError } from '../../common/errors.js';
import { down } from '../../operations/down.js';
import { resolveScope } from '../../operations/scope.js';
import { localRunner } from '../../runtime/process-runner.js';
import {
  commonOptions,
  printJson,
  progress,
  reportFailure,
  stateDirOption,
  DOCKER_PATH_HELP,
} from '../command-context.js';

interface DownFlags {
  containerId?: string;
  workspaceFolder?: string;
  remove?: boolean;
}

/** `portpilot down`: reap the forwarder, free its ports, stop (or remove) the container. */
export function downCommand(): Command {
  return new Command('down')
    .description(
      "Stop a dev container's forwarder (its host ports are free on return), then stop the container",
    )
    .option('--container-id <id>', 'the container')
    .option('--workspace-folder <dir>', "the workspace's container(s)")
    .option('--remove', 'remove the container(s) instead of only stopping them')
    .option('--docker-path <path>', DOCKER_PATH_HELP)
    .addOption(stateDirOption())
    .action(async (flags: DownFlags, command: Command) => {
      try {
        const common = commonOptions(command);
        const scope = await resolveScope(common, flags, { required: true });
        if (scope.kind !== 'containers')
          throw new UsageError('down needs --container-id or --workspace-folder');
        if (scope.containerIds.size === 0) {
          progress(`No container belongs to ${flags.workspaceFolder ?? 'that scope'}; nothing to do.`);
        }
        const result = await down(
          {
            ...common,
            containerIds: [...scope.containerIds],
            remove: flags.remove === true,
            composeProject: scope.composeProject,
          },
          { runner: localRunner, progress },
        );
        printJson(result);
      } catch (error) {
        reportFailure(error);
      }
    });
}
