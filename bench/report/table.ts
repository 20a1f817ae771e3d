import type { IdleResult, RssReading } from '../measure/idle-cost.js';
import type { ScaleResult } from '../measure/scale.js';
import { formatNumber, withRatio } from './format.js';
import type { RunResults } from './results.js';

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function scaleCell(scale: ScaleResult | null): string {
  if (!scale) return '—';
  const broken = [
    scale.failed ? `${scale.failed} failed` : '',
    scale.altered ? `${scale.altered} altered` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${scale.ok}/${scale.connections} ok${broken ? `, ${broken}` : ''} (${formatNumber(scale.seconds)} s)`;
}

/** Pure: the per-path table (figures, and ratios to direct in parentheses). */
export function pathsTable(results: RunResults): string {
  const header = [
    'path',
    'ports path',
    'setup p50 ms',
    'setup p99 ms',
    '1 GiB MB/s',
    'req/s (close)',
    'detect p50 / p95 ms',
    'kB / idle conn (host + ctr)',
    '200 × 256 KiB echo',
  ];
  const rows = results.paths.map((path) => [
    `**${path.name}**`,
    path.portsPath ?? '—',
    withRatio(path.setup?.p50Ms, path.ratios.setupP50) +
      (path.setup?.failures ? ` [${path.setup.failures} failed]` : ''),
    withRatio(path.setup?.p99Ms, path.ratios.setupP99),
    withRatio(path.throughput?.mbPerS, path.ratios.throughput),
    withRatio(path.requests?.rps, path.ratios.requests) +
      (path.requests?.errors ? ` [${path.requests.errors} errors]` : ''),
    path.detection ? `${formatNumber(path.detection.p50Ms)} / ${formatNumber(path.detection.p95Ms)}` : '—',
    path.memory
      ? `${formatNumber(path.memory.perConnectionKB)} + ${formatNumber(path.memory.containerPerConnectionKB)}`
      : '—',
    scaleCell(path.scale),
  ]);
  return markdownTable(header, rows);
}

/** Pure: each path's throughput runs, and how busy the machine was during the median one. */
export function throughputTable(results: RunResults): string {
  const rows = results.paths.flatMap((path) => {
    const throughput = path.throughput;
    if (!throughput) return [];
    return [
      [
        `**${path.name}**`,
        throughput.runs.map((run) => formatNumber(run)).join(', '),
        withRatio(throughput.mbPerS, path.ratios.throughput),
        `${formatNumber(throughput.coresBusy)} of ${results.machine.nproc}`,
      ],
    ];
  });
  return markdownTable(['path', 'runs, MB/s', 'median MB/s', 'CPUs busy in the median run'], rows);
}

/** Pure: the idle forwarder's cost. */
export function idleTable(idle: IdleResult | null): string {
  const header = [
    'forwarded ports',
    'CPU s/min host',
    'CPU s/min container',
    'CPU s/min total',
    'RSS MB host',
    'RSS MB container',
  ];
  if (!idle) return markdownTable(header, [['not measured', '', '', '', '', '']]);
  const paths = Object.entries(idle.paths)
    .map(([path, count]) => `${count} ${path}`)
    .join(', ');
  const rss = (reading: RssReading) => [
    `${formatNumber(reading.hostRssMB)} (${reading.hostProcesses} proc)`,
    `${formatNumber(reading.containerRssMB)} (${reading.containerProcesses} proc)`,
  ];
  const rows = [
    [
      `${idle.ports} (${paths}), no traffic`,
      formatNumber(idle.hostCpuSPerMin),
      formatNumber(idle.containerCpuSPerMin),
      formatNumber(idle.totalCpuSPerMin),
      ...rss(idle),
    ],
  ];
  rows.push(['the same, just after one connection to each', '—', '—', '—', ...rss(idle.afterUse)]);
  rows.push([
    `the same, ${formatNumber(idle.idleSpellS)} s after those connections`,
    '—',
    '—',
    '—',
    ...rss(idle.afterIdleSpell),
  ]);
  return markdownTable(header, rows);
}

/** Pure: the targets with PASS / FAIL. */
export function targetsTable(results: RunResults): string {
  return markdownTable(
    ['target', 'measured', ''],
    results.targets.map((t) => [
      t.target,
      t.measured,
      t.pass === null ? 'NOT MEASURED' : t.pass ? 'PASS' : 'FAIL',
    ]),
  );
}
