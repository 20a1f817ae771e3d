import type pino from 'pino';
import { Docker } from '../runtime/docker.js';
import { connectEngine } from '../runtime/engine-connect.js';
import { podmanCliFor } from '../runtime/podman-cli.js';
import type { ProcessRunner } from '../runtime/process-runner.js';
import { retryDelayMs } from './backoff.js';

type Logger = pino.Logger;

/**
 * The CLI, with the engine's API for streaming execs where it is certainly the same engine. Podman's
 * service keeps every exec it ran (see podmanCliFor): there execs go through a local `podman` that
 * reaches the same containers, when there is one.
 */
export async function dockerFor(
  dockerPath: string,
  baseRunner: ProcessRunner,
  log: Logger,
  /** Where an SSH link to a remote engine puts its socket (in the forwarder's state dir). */
  linkSocket: string,
): Promise<Docker> {
  const route = await connectEngine(dockerPath, process.env, baseRunner, {
    socketPath: linkSocket,
    retryDelayMs,
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  const { api: engine, runner } = route;
  if (route.link) {
    log.info(
      { sshPid: route.link.pid, engineSocket: engine?.socketPath },
      'one SSH link carries every engine call and docker CLI run of this forwarder',
    );
  }
  const podmanCli = engine ? await podmanCliFor(engine, runner) : null;
  if (engine && podmanCli) {
    log.info(
      { engineSocket: engine.endpoint, podmanVersion: engine.podmanVersion },
      `the engine is Podman: execs go through '${podmanCli} exec', which leaves no session behind`,
    );
    return new Docker(runner, dockerPath, null, podmanCli);
  }
  log.info(
    { engineSocket: engine?.endpoint ?? null, engineTarget: route.target?.kind ?? null },
    engine
      ? 'relay execs go through the engine API'
      : `relay execs go through '${dockerPath} exec' (no engine API the CLI would use answers)`,
  );
  if (engine?.execRemoval === 'unsupported') {
    log.warn(
      { podmanVersion: engine.podmanVersion },
      [
        'this Podman keeps every ended exec session, and its two conmon processes, for its',
        'exit_command_delay (300 s by default), and cannot be asked to remove them before 4.8: each',
        'exec-path connection costs that. A podman CLI on PATH that reaches the same containers (the',
        'same user as the engine) runs execs that leave nothing behind; python3 or perl in the image',
        "lets the relay agent carry connections instead; a lower exit_command_delay in the engine's",
        'containers.conf shortens the wait',
      ].join(' '),
    );
  }
  return new Docker(runner, dockerPath, engine, dockerPath, route.link?.dials ?? null);
}
