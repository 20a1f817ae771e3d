/**
 * The longest env-file line the docker CLI reads, in bytes: it scans the file with Go's
 * bufio.Scanner, whose default limit is 64 KiB a line. Longer values go by the environment.
 */
export const MAX_ENV_FILE_LINE_BYTES = 60_000;

/** How containerEnv values are handed to one docker CLI command, off its command line. */
export interface EnvPassing {
  /** The env file's text (`NAME=value` lines), or null when no value goes that way. */
  fileText: string | null;
  /** Variables passed as `-e NAME`: the docker CLI reads their values from its own environment. */
  byEnvironment: Record<string, string>;
}

/**
 * Pure: splits `env` between an env file and the docker CLI's environment. A value on the docker
 * CLI's command line would be readable by every local user (`ps`, `/proc/PID/cmdline`) for as long
 * as the command runs. The env file is preferred: the CLI's own environment is left as it is (a
 * containerEnv PATH, HOME or DOCKER_HOST would otherwise steer the CLI itself). A value the file
 * format cannot carry (a line break, a line too long, a name it would misread) goes by the
 * environment.
 */
export function planEnvPassing(env: Readonly<Record<string, string>>): EnvPassing {
  const lines: string[] = [];
  const byEnvironment: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const line = `${name}=${value}`;
    if (fitsEnvFile(name, value) && Buffer.byteLength(line) <= MAX_ENV_FILE_LINE_BYTES) lines.push(line);
    else byEnvironment[name] = value;
  }
  return { fileText: lines.length > 0 ? `${lines.join('\n')}\n` : null, byEnvironment };
}

// The docker CLI trims a line's leading white space, skips `#` lines, ends a line at \n (dropping a
// \r before it) and refuses a name with white space in it.
function fitsEnvFile(name: string, value: string): boolean {
  return /^[^\s#=][^\s=]*$/.test(name) && !/[\r\n\0]/.test(value);
}
