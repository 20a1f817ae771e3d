import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS_DIR } from '../paths.js';
import { renderChart } from './chart.js';
import { loadLine, machineLine, renderMarkdown } from './markdown.js';
import type { RunResults } from './results.js';

/** Where a run's outputs went. */
export interface WrittenFiles {
  json: string;
  markdown: string;
  chart: string;
}

/** Writes bench/results/<date>.json, bench/latest.md and bench/latest.svg. */
export async function writeResults(results: RunResults): Promise<WrittenFiles> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const json = join(RESULTS_DIR, `${results.date.replace(/:/g, '-')}.json`);
  const markdown = join(BENCH_DIR, 'latest.md');
  const chart = join(BENCH_DIR, 'latest.svg');
  await writeFile(json, JSON.stringify(results, null, 2) + '\n');
  await writeFile(markdown, renderMarkdown(results));
  const when = `${results.date.slice(0, 16).replace('T', ' ')} UTC`;
  const subtitle = [`${when} · ${machineLine(results.machine)}`, `${loadLine(results.machine)}`];
  await writeFile(chart, renderChart(results, subtitle));
  return { json, markdown, chart };
}
