import { execa } from 'execa';
import { CLI_PATH } from '../paths.js';

/**
 * Pure: the `--relay-path` values from `portpilot up --help` (commander's `(choices: "a", "b")`,
 * wrapped over several lines, maybe ending with its default); empty when the option or its choices are missing.
 */
export function parseRelayPathChoices(help: string): string[] {
  const at = help.indexOf('--relay-path');
  if (at < 0) return [];
  const rest = help.slice(at).replace(/\s+/g, ' ');
  // `(choices: "a", "b", default: "a")`: the default is not a choice of its own.
  const choices = (/\(choices: ([^)]*)\)/.exec(rest)?.[1] ?? '').split('default:')[0] ?? '';
  const values = [...choices.matchAll(/"([^"]+)"/g)].map((match) => match[1] ?? '').filter(Boolean);
  return [...new Set(values)];
}

/** The `--relay-path` values the built CLI accepts now: a new path shows up here by itself. */
export async function relayPathChoices(): Promise<string[]> {
  const help = await execa(process.execPath, [CLI_PATH, 'up', '--help']);
  const choices = parseRelayPathChoices(help.stdout);
  if (choices.length === 0) throw new Error('`portpilot up --help` lists no --relay-path choices');
  return choices;
}
