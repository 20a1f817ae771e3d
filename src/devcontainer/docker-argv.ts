import { planEnvPassing } from './passed-env.js';

/** Docker subcommands whose `-e`/`--label` values the reference CLI fills with configuration values. */
const SUBCOMMANDS_WITH_VALUES = new Set(['run', 'create', 'exec']);
/** Subcommands that also take labels (`exec` has none). */
const SUBCOMMANDS_WITH_LABELS = new Set(['run', 'create']);

/** A docker command line with its environment values and labels taken off argv. */
export interface HiddenValues {
  /** The command line to run: `--env-file`/`--label-file` in place of the values. */
  args: string[];
  /** The env file's text, or null when no value goes there. */
  envFileText: string | null;
  /** Values an env file cannot hold (see planEnvPassing): passed by name, from docker's environment. */
  envFromProcess: Record<string, string>;
  /** `key=value` lines for the label file. */
  labelLines: string[];
}

/** Where the caller puts the two files the rewritten command line names. */
export interface ValueFiles {
  envFile: string;
  labelFile: string;
}

/**
 * Pure: moves the `-e NAME=value` and `--label key=value` values of a `docker run`, `create` or
 * `exec` command line off argv (any user can read a process's argv in /proc, and `docker run -a`
 * lives as long as the container): environment values into an env file, labels (the
 * `devcontainer.metadata` label repeats containerEnv and remoteEnv) into a label file. Any other
 * command line comes back unchanged.
 */
export function hideValues(argv: readonly string[], files: ValueFiles): HiddenValues {
  const result: HiddenValues = { args: [], envFileText: null, envFromProcess: {}, labelLines: [] };
  const env: Record<string, string> = {};
  const subcommandAt = argv.findIndex((arg) => !arg.startsWith('-'));
  const subcommand = argv[subcommandAt] ?? '';
  if (!SUBCOMMANDS_WITH_VALUES.has(subcommand)) return { ...result, args: [...argv] };
  const withLabels = SUBCOMMANDS_WITH_LABELS.has(subcommand);
  result.args.push(...argv.slice(0, subcommandAt + 1));
  let index = subcommandAt + 1;
  for (; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (!arg.startsWith('-') || arg === '--') break; // the image or container: the rest is the command
    const envValue = optionValue(arg, argv[index + 1], ['-e', '--env']);
    const label = withLabels ? optionValue(arg, argv[index + 1], ['-l', '--label']) : null;
    const found = envValue ?? label;
    if (found === null) {
      result.args.push(arg);
      if (takesValue(arg) && index + 1 < argv.length) result.args.push(argv[++index] ?? '');
      continue;
    }
    if (found.consumedNext) index++;
    if (envValue) addEnv(result, env, envValue.value);
    else result.labelLines.push(found.value);
  }
  const plan = planEnvPassing(env);
  result.envFileText = plan.fileText;
  result.envFromProcess = plan.byEnvironment;
  // Right after the subcommand, where no option can be missing its value.
  const moved: string[] = [];
  if (result.envFileText !== null) moved.push('--env-file', files.envFile);
  moved.push(...Object.keys(result.envFromProcess).flatMap((name) => ['-e', name]));
  if (result.labelLines.length > 0) moved.push('--label-file', files.labelFile);
  result.args.splice(subcommandAt + 1, 0, ...moved);
  result.args.push(...argv.slice(index));
  return result;
}

function addEnv(result: HiddenValues, env: Record<string, string>, value: string): void {
  const equals = value.indexOf('=');
  // A name alone: docker reads its value from its own environment.
  if (equals < 0) result.args.push('-e', value);
  else env[value.slice(0, equals)] = value.slice(equals + 1);
}

function optionValue(
  arg: string,
  next: string | undefined,
  names: readonly string[],
): { value: string; consumedNext: boolean } | null {
  for (const name of names) {
    if (arg === name && next !== undefined) return { value: next, consumedNext: true };
    if (name.startsWith('--') && arg.startsWith(`${name}=`))
      return { value: arg.slice(name.length + 1), consumedNext: false };
  }
  return null;
}

// The run/exec options the reference CLI passes that take a separate value; a flag not listed here
// is read as boolean, so its successor is read as an option (or the image) again.
const OPTIONS_WITH_VALUES = new Set([
  '-a',
  '--attach',
  '-u',
  '--user',
  '-w',
  '--workdir',
  '--mount',
  '--entrypoint',
  '--name',
  '--network',
  '--cap-add',
  '--security-opt',
  '--env-file',
  '--label-file',
  '-p',
  '--publish',
  '-v',
  '--volume',
  '--add-host',
  '--device',
  '--gpus',
  '--runtime',
  '--sysctl',
  '--ulimit',
  '--shm-size',
  '--ipc',
  '--pid',
  '--hostname',
  '--platform',
  '--tmpfs',
  '--log-driver',
  '--log-opt',
  '--memory',
  '--cpus',
  '--detach-keys',
  '--restart',
  '--dns',
  '--group-add',
  '--volumes-from',
  '--cgroupns',
  '--userns',
  '--uts',
  '--privileged-mode',
]);

function takesValue(arg: string): boolean {
  return !arg.includes('=') && OPTIONS_WITH_VALUES.has(arg);
}
