import { Command } from 'commander';
import { runForwardDaemon } from '../../daemon/forward-daemon.js';

/** The hidden `__forward-daemon` command that `up` starts; not for users. */
export function forwardDaemonCommand(): Command {
  return new Command('__forward-daemon')
    .description('the detached port forwarder (started by up)')
    .requiredOption('--container-id <id>', 'the container served (also marks the process as its forwarder)')
    .requiredOption('--spec-file <file>', 'what up asked for')
    .action(async (flags: { specFile: string }) => {
      await runForwardDaemon(flags.specFile);
    });
}
