#!/usr/bin/env node
// The forwarder (started by `up`) takes a short path that loads none of the CLI: it runs for days.
import { DAEMON_SUBCOMMAND } from '../dist/control/daemon-subcommand.js';

const daemon = process.argv[2] === DAEMON_SUBCOMMAND;
const run = daemon
  ? (await import('../dist/daemon/daemon-main.js')).daemonMain(process.argv.slice(3))
  : (await import('../dist/cli/main.js')).main(process.argv);

run.catch((error) => {
  process.stderr.write(`portpilot: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
