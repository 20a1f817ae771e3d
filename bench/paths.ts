import { fileURLToPath } from 'node:url';

// This module compiles to bench/results/build/bench/paths.js (beside the test support the bench
// shares, in bench/results/build/test/): the bench's sources sit three levels up.
/** The bench's source folder (bench/). */
export const BENCH_DIR = fileURLToPath(new URL('../../../', import.meta.url));
/** The repository root. */
export const REPO_DIR = fileURLToPath(new URL('../../../../', import.meta.url));
/** Where each run's JSON goes (git-ignored). */
export const RESULTS_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** The built CLI, run as users run it. */
export const CLI_PATH = fileURLToPath(new URL('../../../../bin/portpilot.js', import.meta.url));
/** The server program copied into every bench container (the tests' own servers). */
export const SERVER_SCRIPT_PATH = fileURLToPath(
  new URL('../../../../test/support/servers/test-server.py', import.meta.url),
);
/** The UDP echo server copied into the UDP section's container (the tests' own). */
export const UDP_ECHO_SCRIPT_PATH = fileURLToPath(
  new URL('../../../../test/support/servers/udp-echo.py', import.meta.url),
);
