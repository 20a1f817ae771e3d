import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS_DIR } from '../paths.js';
import { SECTIONS } from '../sections.js';
import { renderChart } from './chart.js';
import { loadLine, machineLine, renderMarkdown } from './markdown.js';
import type { RunResults } from './results.js';

/** Where a run's outputs went. */
export interface WrittenFiles {
  json: string;
  markdown: string;
  /** null: a partial run draws no chart. */
  chart: string | null;
}

/**
 * Writes bench/results/<date>.json and, for a run of every section, bench/latest.md and
 * bench/latest.svg. A run of some sections (`--sections`) writes its report to
 * bench/results/<date>.md instead: latest.md always holds one whole run, every figure from it.
 */
export async function writeResults(results: RunResults): Promise<WrittenFiles> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = results.date.replace(/:/g, '-');
  const json = join(RESULTS_DIR, `${stamp}.json`);
  await writeFile(json, JSON.stringify(results, null, 2) + '\n');
  const whole = SECTIONS.every((section) => results.sections.includes(section));
  const markdown = whole ? join(BENCH_DIR, 'latest.md') : join(RESULTS_DIR, `${stamp}.md`);
  await writeFile(markdown, renderMarkdown(results));
  if (!whole) return { json, markdown, chart: null };
  const chart = join(BENCH_DIR, 'latest.svg');
  const when = `${results.date.slice(0, 16).replace('T', ' ')} UTC`;
  const subtitle = [`${when} · ${machineLine(results.machine)}`, `${loadLine(results.machine)}`];
  await writeFile(chart, renderChart(results, subtitle));
  return { json, markdown, chart };
}
