import { readFileSync } from 'node:fs';
import { ForwarderError } from '../../common/errors.js';

/**
 * The programs portpilot runs inside containers live beside this module as real files (`.py`, `.pl`,
 * `.sh`, `.bash`), copied into dist/ by the build. A program names each constant it takes from the
 * TypeScript as '@@NAME@@', in single quotes, so that the file is a valid program as it stands; the
 * placeholder, quotes and all, is replaced by the value when the program is loaded.
 */

/** A value a program takes: a number, a word (quoted in the program) or a list of words (unquoted). */
export type ProgramValue = number | string | readonly string[];

const PLACEHOLDER = /'@@([A-Z][A-Z0-9_]*)@@'/g;
// Words only: a value can never close its quotes or run into the program's code.
const WORD = /^[A-Za-z0-9_.+-]+$/;

/** Pure: `text` with every '@@NAME@@' placeholder replaced by values[NAME]; throws on a missing, unused or unsafe value. */
export function fillProgram(
  name: string,
  text: string,
  values: Readonly<Record<string, ProgramValue>>,
): string {
  const used = new Set<string>();
  const filled = text.replace(PLACEHOLDER, (_, key: string) => {
    const value = values[key];
    if (value === undefined)
      throw new ForwarderError(
        `container program ${name} names '@@${key}@@', which has no value: pass ${key} to loadProgram`,
      );
    used.add(key);
    return literal(name, key, value);
  });
  const unused = Object.keys(values).filter((key) => !used.has(key));
  if (unused.length > 0)
    throw new ForwarderError(
      `container program ${name} has no placeholder for ${unused.join(', ')}: add '@@NAME@@' where each is used, or pass it no more`,
    );
  return filled;
}

function literal(name: string, key: string, value: ProgramValue): string {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return String(value);
  } else if (typeof value === 'string') {
    if (WORD.test(value)) return `'${value}'`;
  } else if (value.length > 0 && value.every((word) => WORD.test(word))) {
    return value.join(' ');
  }
  throw new ForwarderError(
    `container program ${name}: ${key} = ${JSON.stringify(value)} is not an integer, a word or a list of words (letters, digits, _ . + -)`,
  );
}

/** Reads the program `name` of this folder and fills in its placeholders (call once, at import). */
export function loadProgram(name: string, values: Readonly<Record<string, ProgramValue>> = {}): string {
  return fillProgram(name, readFileSync(new URL(name, import.meta.url), 'utf8'), values);
}

/** The parts of the mux agent, in the order they are joined (see loadProgramParts). */
export const MUX_AGENT_PARTS = ['streams', 'listeners', 'reverse', 'datagrams', 'main'] as const;

/**
 * Pure: a program kept as parts in a folder of this one (`dir/PART.ext`), joined in order into
 * one text: each part is a concern of its own (a file under ~300 lines), the program one `-c`.
 */
export function joinProgramParts(
  dir: string,
  parts: readonly string[],
  ext: string,
  read: (path: string) => string,
): string {
  return parts.map((part) => read(`${dir}/${part}${ext}`)).join('\n');
}

/** Reads the parts of program `dir` (see joinProgramParts) and fills in its placeholders (call once, at import). */
export function loadProgramParts(
  dir: string,
  parts: readonly string[],
  ext: '.py' | '.pl',
  values: Readonly<Record<string, ProgramValue>> = {},
): string {
  const text = joinProgramParts(dir, parts, ext, (path) =>
    readFileSync(new URL(path, import.meta.url), 'utf8'),
  );
  return fillProgram(`${dir}${ext}`, text, values);
}
