import { Command } from 'commander';
import { execInContainer } from '../../operations/exec.js';
import { localRunner } from '../../runtime/process-runner.js';
import { runAttached } from '../../workspace/attached-process.js';
import { commonOptions, progress, reportFailure } from '../command-context.js';

interface ExecFlags {
  containerId?: string;
  workspaceFolder?: string;
  config?: string;
}

/** `portpilot exec`: run a command in the dev container, its stdio and exit code passed through. */
export function execCommand(): Command {
  return new Command('exec')
    .description(
      "Run a command in the dev container; stdin, stdout, stderr and the exit code are the command's",
    )
    .usage('[--container-id ID | --workspace-folder DIR] -- CMD [ARGS...]')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option(
      '--container-id <id>',
      'run in this running container (in its workspace folder, as its user, when its labels name its devcontainer.json)',
    )
    .option('--workspace-folder <dir>', "run in the workspace's dev container (default: current directory)")
    .option('--config <file>', 'a devcontainer.json outside the workspace')
    .option('--docker-path <path>', 'the docker-compatible CLI to use', 'docker')
    .action(async (command: string[], flags: ExecFlags, self: Command) => {
      try {
        process.exitCode = await execInContainer(
          {
            ...commonOptions(self),
            containerId: flags.containerId ?? null,
            workspaceFolder: flags.workspaceFolder ?? null,
            config: flags.config ?? null,
            command,
            tty: process.stdin.isTTY === true && process.stdout.isTTY === true,
          },
          { runner: localRunner, attached: runAttached, env: process.env, warn: progress },
        );
      } catch (error) {
        reportFailure(error);
      }
    });
}
