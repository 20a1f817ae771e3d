import { parseArgs } from 'node:util';
import { DAEMON_SUBCOMMAND } from '../control/daemon-subcommand.js';
import { runForwardDaemon } from './forward-daemon.js';

/**
 * Entry of `portpilot __forward-daemon`, reached from bin/portpilot.js without loading the CLI: the
 * forwarder runs for days, and the command parser and the other commands' code would only cost it
 * memory. Started only by `up`; not for users.
 */
export async function daemonMain(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { 'container-id': { type: 'string' }, 'spec-file': { type: 'string' } },
    strict: true,
  });
  const specFile = values['spec-file'];
  const containerId = values['container-id'];
  if (!containerId || !specFile) {
    throw new Error(
      `${DAEMON_SUBCOMMAND} is started by \`portpilot up\`; it needs --container-id and --spec-file`,
    );
  }
  await runForwardDaemon(specFile, containerId);
}
