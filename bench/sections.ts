/** The parts of a run, in the order they run. */
export const SECTIONS = ['local', 'remote', 'rootless', 'udp'] as const;
export type Section = (typeof SECTIONS)[number];

/**
 * Pure: the sections to run, from `--sections a,b` (or `--sections=a,b`) on the command line, else
 * BENCH_SECTIONS, else all of them. An unknown name is an error naming the known ones.
 */
export function parseSections(argv: readonly string[], fromEnv: string | undefined): Section[] {
  let value = fromEnv;
  for (const [i, arg] of argv.entries()) {
    if (arg === '--sections') value = argv[i + 1];
    else if (arg.startsWith('--sections=')) value = arg.slice('--sections='.length);
  }
  if (value === undefined || value.trim() === '') return [...SECTIONS];
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown bench section(s) ${unknown.join(', ')}: expected some of ${SECTIONS.join(', ')}`,
    );
  }
  return SECTIONS.filter((section) => names.includes(section));
}
