import type pino from 'pino';
import { Docker } from '../runtime/docker.js';
import { EngineApi } from '../runtime/engine-api.js';
import { podmanCliFor } from '../runtime/podman-cli.js';
import type { ProcessRunner } from '../runtime/process-runner.js';

type Logger = pino.Logger;

/**
 * The CLI, with the engine's API for streaming execs where it is certainly the same engine. Podman's
 * service keeps every exec it ran (see podmanCliFor): there execs go through a local `podman` that
 * reaches the same containers, when there is one.
 */
export async function dockerFor(dockerPath: string, runner: ProcessRunner, log: Logger): Promise<Docker> {
  const engine = await EngineApi.forCli(dockerPath, process.env);
  const podmanCli = engine ? await podmanCliFor(engine, runner) : null;
  if (engine && podmanCli) {
    log.info(
      { engineSocket: engine.socketPath, podmanVersion: engine.podmanVersion },
      `the engine is Podman: execs go through '${podmanCli} exec', which leaves no session behind`,
    );
    return new Docker(runner, dockerPath, null, podmanCli);
  }
  log.info(
    { engineSocket: engine?.socketPath ?? null },
    engine
      ? 'relay execs go through the engine API'
      : `relay execs go through '${dockerPath} exec' (no local engine socket the CLI would use)`,
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
  return new Docker(runner, dockerPath, engine);
}
