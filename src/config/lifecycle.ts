import { childPath, invalidConfig, isAbsent, isJsonObject } from './config-values.js';
import type { LifecycleCommand } from './types.js';

/** The shell a string lifecycle command runs through, as the Dev Containers CLI does. */
export const LIFECYCLE_SHELL_ARGV: readonly string[] = ['/bin/sh', '-c'];

/** One process to start for a lifecycle command: `name` is the key of a parallel entry, else null. */
export interface LifecycleInvocation {
  name: string | null;
  argv: string[];
}

const COMMAND_EXPECTED = 'a string, an array of strings, or an object of named commands';
const ENTRY_EXPECTED = 'a string or an array of strings';

/** The processes a lifecycle command starts; the entries of a parallel command run at the same time. */
export function lifecycleInvocations(command: LifecycleCommand): LifecycleInvocation[] {
  switch (command.kind) {
    case 'shell':
      return [{ name: null, argv: [...LIFECYCLE_SHELL_ARGV, command.command] }];
    case 'argv':
      return [{ name: null, argv: [...command.argv] }];
    case 'parallel':
      return Object.entries(command.commands).flatMap(([name, entry]) =>
        lifecycleInvocations(entry).map((invocation) => ({
          name: invocation.name === null ? name : `${name}.${invocation.name}`,
          argv: invocation.argv,
        })),
      );
  }
}

/**
 * Reads a lifecycle command property. An empty string, array or object means no command, as the Dev
 * Containers CLI skips those; parallel entries are strings or arrays, never nested objects.
 */
export function parseLifecycleCommand(value: unknown, path: string): LifecycleCommand | null {
  if (isAbsent(value)) return null;
  if (isJsonObject(value)) {
    const commands: Record<string, LifecycleCommand> = {};
    for (const [name, entry] of Object.entries(value)) {
      const entryPath = childPath(path, name);
      if (isJsonObject(entry)) invalidConfig(entryPath, entry, 'is not a command', ENTRY_EXPECTED);
      const command = parseSingleCommand(entry, entryPath, ENTRY_EXPECTED);
      if (command) commands[name] = command;
    }
    return Object.keys(commands).length > 0 ? { kind: 'parallel', commands } : null;
  }
  return parseSingleCommand(value, path, COMMAND_EXPECTED);
}

function parseSingleCommand(value: unknown, path: string, expected: string): LifecycleCommand | null {
  if (isAbsent(value)) return null;
  if (typeof value === 'string') return value === '' ? null : { kind: 'shell', command: value };
  if (!Array.isArray(value)) invalidConfig(path, value, 'is not a command', expected);
  const argv = value.map((item: unknown, index) => {
    if (typeof item !== 'string') invalidConfig(childPath(path, index), item, 'is not a string', 'a string');
    return item;
  });
  return argv.length > 0 ? { kind: 'argv', argv } : null;
}
