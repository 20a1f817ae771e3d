import { Command, Option } from 'commander';
import { RELAY_PATHS, type RelayPath } from '../../forwarding/port-entry.js';
import { localRunner } from '../../runtime/process-runner.js';
import { ReferenceCliError } from '../../devcontainer/reference-cli.js';
import { up } from '../../operations/up.js';
import {
  commonOptions,
  errorResult,
  printJson,
  progress,
  stateDirOption,
  DOCKER_PATH_HELP,
} from '../command-context.js';

interface UpFlags {
  workspaceFolder?: string;
  config?: string;
  containerId?: string;
  autoForward?: boolean;
  forwardPort?: string[];
  reversePort?: string[];
  removeExistingContainer?: boolean;
  relayPath: 'auto' | RelayPath;
  hostAddress: string;
}

/** `portpilot up`: create or attach to the dev container and start its forwarder. */
export function upCommand(): Command {
  return new Command('up')
    .description(
      'Create or attach to a dev container (with the Dev Containers CLI) and, with --auto-forward, forward its ports to this host',
    )
    .option(
      '--workspace-folder <dir>',
      'workspace whose devcontainer.json is read (default: current directory)',
    )
    .option('--config <file>', 'a devcontainer.json outside the workspace')
    .option('--container-id <id>', 'attach to this running container instead of creating one')
    .option('--auto-forward', 'start (or reuse) the detached forwarder for the container')
    .option(
      '--forward-port <spec>',
      'forward PORT or SERVICE:PORT eagerly, like forwardPorts; PORT/udp for UDP (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      '--reverse-port <spec>',
      "serve the host's 127.0.0.1:PORT inside the container at 127.0.0.1:CONTAINER_PORT (PORT[:CONTAINER_PORT], repeatable)",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      '--remove-existing-container',
      "replace the workspace's container (its forwarder is reaped first)",
    )
    .option('--docker-path <path>', DOCKER_PATH_HELP)
    .addOption(stateDirOption())
    .addOption(
      new Option(
        '--relay-path <path>',
        'how connections reach the container: direct to its IP, a helper in its network namespace, an in-container agent, one exec for all (mux), or an exec each',
      )
        .choices(['auto', ...RELAY_PATHS])
        .default('auto'),
    )
    .addOption(
      new Option('--host-address <address>', 'host address the forwards listen on (loopback only by default)')
        .default('127.0.0.1')
        .hideHelp(),
    )
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      "\nEvery other flag goes to the Dev Containers CLI's up (devcontainer up --help lists them).",
    )
    .action(async (flags: UpFlags, command: Command) => {
      try {
        const result = await up(
          {
            ...commonOptions(command),
            containerId: flags.containerId ?? null,
            workspaceFolder: flags.workspaceFolder ?? null,
            config: flags.config ?? null,
            autoForward: flags.autoForward === true,
            forwardPorts: flags.forwardPort ?? [],
            reversePorts: flags.reversePort ?? [],
            removeExistingContainer: flags.removeExistingContainer === true,
            passThrough: command.args,
            relayPath: flags.relayPath === 'auto' ? null : flags.relayPath,
            hostAddress: flags.hostAddress,
          },
          { runner: localRunner, progress, env: process.env },
        );
        printJson(result);
      } catch (error) {
        const result = error instanceof ReferenceCliError ? error.result : errorResult(error);
        progress(`portpilot up: ${String(result.message)}`);
        printJson(result);
        process.exitCode = 1;
      }
    });
}
