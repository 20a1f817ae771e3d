import type { Writable } from 'node:stream';
import { RuntimeError } from '../common/errors.js';
import { lifecycleInvocations, type LifecycleInvocation } from '../config/lifecycle.js';
import type { DevContainerConfig } from '../config/types.js';
import type { Docker } from '../runtime/docker.js';
import { dockerExecArgs, workspaceExecSettings, type ExecSettings } from './exec-args.js';
import { withPassedEnv } from './passed-env.js';
import { lastLines, runStreamed } from './stream-command.js';

/** A lifecycle command property, in the order they run. */
export type LifecyclePhase = 'onCreateCommand' | 'postCreateCommand' | 'postStartCommand';

/**
 * When each phase runs: the create phases once per container (keyed on its creation time), the start
 * phase once per container start (keyed on its start time).
 */
export const LIFECYCLE_PHASES: ReadonlyArray<{ phase: LifecyclePhase; key: 'createdAt' | 'startedAt' }> = [
  { phase: 'onCreateCommand', key: 'createdAt' },
  { phase: 'postCreateCommand', key: 'createdAt' },
  { phase: 'postStartCommand', key: 'startedAt' },
];

/**
 * Where a phase records that it ran: `$HOME/.devcontainer/.<phase>Marker` in the container, holding the
 * creation (or start) time it ran for. The Dev Containers CLI keeps the same files, so a container that
 * either tool set up is not set up again by the other.
 */
export const MARKER_FOLDER_SHELL = '"${HOME:-/}/.devcontainer"';

// Prints "<phase>=<the first line of its marker>" for each phase named in "$@".
const READ_MARKERS_SCRIPT = `for n in "$@"; do v=; f=${MARKER_FOLDER_SHELL}/.\${n}Marker; [ -f "$f" ] && read -r v <"$f"; printf '%s=%s\\n' "$n" "$v"; done`;
// $0: the phase, $1: the time it ran for.
const WRITE_MARKER_SCRIPT = `mkdir -p ${MARKER_FOLDER_SHELL} && printf '%s\\n' "$1" >${MARKER_FOLDER_SHELL}/."$0"Marker`;

/** Where lifecycle commands run and where their output goes. */
export interface LifecycleTarget {
  docker: Docker;
  containerId: string;
  output: Writable;
  progress: (message: string) => void;
}

/**
 * Runs the config's onCreateCommand and postCreateCommand once per container and postStartCommand once
 * per start, each with `docker exec` in workspaceFolder with containerEnv, output streamed. A command
 * that fails stops here with its exit code; its phase is not recorded, so the next `up` tries it again.
 */
export async function runLifecycleCommands(
  config: Pick<DevContainerConfig, LifecyclePhase | 'workspaceFolder' | 'containerEnv' | 'remoteUser'>,
  target: LifecycleTarget,
): Promise<void> {
  const pending = LIFECYCLE_PHASES.filter(({ phase }) => config[phase] !== null);
  if (pending.length === 0) return;
  const settings: ExecSettings = { ...workspaceExecSettings(config), interactive: false, tty: false };
  const times = await containerTimes(target);
  const markers = await readMarkers(
    target,
    settings,
    pending.map(({ phase }) => phase),
  );
  for (const { phase, key } of pending) {
    const command = config[phase];
    if (command === null || markers.get(phase) === times[key]) continue;
    target.progress(`Running the ${phase} from devcontainer.json…`);
    await Promise.all(
      lifecycleInvocations(command).map((run) => runInvocation(target, settings, phase, run)),
    );
    await writeMarker(target, settings, phase, times[key]);
  }
}

async function runInvocation(
  target: LifecycleTarget,
  settings: ExecSettings,
  phase: LifecyclePhase,
  invocation: LifecycleInvocation,
): Promise<void> {
  const { docker, containerId, output } = target;
  const result = await withPassedEnv(settings.env, ({ flags, processEnv }) =>
    runStreamed(
      docker.runner,
      docker.dockerPath,
      dockerExecArgs(containerId, invocation.argv, settings, flags),
      output,
      processEnv,
    ),
  );
  if (result.exitCode === 0) return;
  const what = invocation.name === null ? phase : `${phase} "${invocation.name}"`;
  throw new RuntimeError(`${what} failed with exit code ${result.exitCode}`, {
    description:
      `${JSON.stringify(invocation.argv)} in ${settings.workdir ?? 'the container'}` +
      `${result.tail ? `:\n${lastLines(result.tail)}` : ''}\nFix the command in devcontainer.json, then run up again.`,
  });
}

async function containerTimes(target: LifecycleTarget): Promise<Record<'createdAt' | 'startedAt', string>> {
  const format = '{{.Created}} {{.State.StartedAt}}';
  const { stdout } = await target.docker.cli([
    'container',
    'inspect',
    '--format',
    format,
    target.containerId,
  ]);
  const [createdAt = '', startedAt = ''] = stdout.trim().split(' ');
  return { createdAt, startedAt };
}

async function readMarkers(
  target: LifecycleTarget,
  settings: ExecSettings,
  phases: LifecyclePhase[],
): Promise<Map<string, string>> {
  const argv = ['/bin/sh', '-c', READ_MARKERS_SCRIPT, '-', ...phases];
  const result = await execQuietly(target, settings, argv);
  const markers = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) markers.set(line.slice(0, at), line.slice(at + 1));
  }
  return markers;
}

async function writeMarker(
  target: LifecycleTarget,
  settings: ExecSettings,
  phase: LifecyclePhase,
  time: string,
): Promise<void> {
  const argv = ['/bin/sh', '-c', WRITE_MARKER_SCRIPT, phase, time];
  await execQuietly(target, settings, argv);
}

/** Runs a marker script with the phase's user and environment (its HOME may come from containerEnv). */
function execQuietly(target: LifecycleTarget, settings: ExecSettings, argv: readonly string[]) {
  return withPassedEnv(settings.env, ({ flags, processEnv }) =>
    target.docker.cli(dockerExecArgs(target.containerId, argv, { ...settings, workdir: null }, flags), {
      env: processEnv,
    }),
  );
}
