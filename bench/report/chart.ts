import type { PathName } from '../config.js';
import { formatRatio } from './format.js';
import type { Ratios, RunResults } from './results.js';

const WIDTH = 980;
const PLOT_LEFT = 250;
const PLOT_RIGHT = 900;
const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const PANEL_TITLE_HEIGHT = 44;
const PANEL_GAP = 18;
const HEADER_HEIGHT = 96;
const FOOTER_HEIGHT = 44;

const PATH_COLOURS: Record<PathName, string> = {
  direct: '#4b5563',
  published: '#0284c7',
  'exec-per-connection': '#dc2626',
  'portpilot-wildcard': '#16a34a',
  'portpilot-loopback': '#7c3aed',
  'portpilot-loopback-exec': '#d97706',
};

const PANELS: readonly { key: keyof Ratios; title: string }[] = [
  { key: 'setupP50', title: 'connection setup p50: time × direct (lower is better)' },
  { key: 'setupP99', title: 'connection setup p99: time × direct (lower is better)' },
  { key: 'throughput', title: 'throughput, 1 GiB one way: rate × direct (higher is better)' },
  { key: 'requests', title: 'HTTP requests/s, a connection each: rate × direct (higher is better)' },
];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${escapeXml(content)}</text>`;
}

function decadeLabel(decade: number): string {
  return `${decade >= 0 ? String(10 ** decade) : (10 ** decade).toFixed(-decade)}×`;
}

/** Pure: the decades the log axis spans, always including 1×. */
function axisDecades(results: RunResults): { low: number; high: number } {
  const values = results.paths
    .flatMap((path) => PANELS.map((panel) => path.ratios[panel.key]))
    .filter((value): value is number => value != null && Number.isFinite(value) && value > 0);
  const low = Math.floor(Math.log10(Math.min(1, ...values)));
  const high = Math.ceil(Math.log10(Math.max(1, ...values)));
  return { low, high: Math.max(high, low + 1) };
}

/**
 * Pure: an SVG bar chart of every path's ratios to direct, one panel per measure, on a shared log
 * axis; bars grow from 1× (direct) towards the ratio. Hand-written, no charting dependency.
 */
export function renderChart(results: RunResults, subtitle: readonly string[]): string {
  const { low, high } = axisDecades(results);
  const x = (value: number) =>
    PLOT_LEFT + ((Math.log10(value) - low) / (high - low)) * (PLOT_RIGHT - PLOT_LEFT);
  const panelHeight = PANEL_TITLE_HEIGHT + results.paths.length * (BAR_HEIGHT + BAR_GAP);
  const height = HEADER_HEIGHT + PANELS.length * (panelHeight + PANEL_GAP) + FOOTER_HEIGHT;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(
      20,
      30,
      'portpilot bench: each path relative to direct (host → container IP), log scale',
      'font-size="17" font-weight="bold" fill="#111827"',
    ),
    ...subtitle.map((line, i) => text(20, 52 + i * 16, line, 'fill="#4b5563"')),
  ];
  PANELS.forEach((panel, index) => {
    const top = HEADER_HEIGHT + index * (panelHeight + PANEL_GAP);
    const barsTop = top + PANEL_TITLE_HEIGHT;
    const barsBottom = top + panelHeight;
    parts.push(text(20, top + 16, panel.title, 'font-size="13" font-weight="bold" fill="#111827"'));
    for (let decade = low; decade <= high; decade++) {
      const gx = x(10 ** decade);
      const stroke = decade === 0 ? 'stroke="#111827" stroke-width="1.5"' : 'stroke="#d1d5db"';
      parts.push(
        `<line x1="${gx.toFixed(1)}" y1="${barsTop - 4}" x2="${gx.toFixed(1)}" y2="${barsBottom}" ${stroke}/>`,
      );
      parts.push(
        text(gx, top + 34, decadeLabel(decade), 'text-anchor="middle" fill="#6b7280" font-size="11"'),
      );
    }
    results.paths.forEach((path, row) => {
      const y = barsTop + row * (BAR_HEIGHT + BAR_GAP);
      const value = path.ratios[panel.key];
      const name = path.portsPath ? `${path.name} (${path.portsPath})` : path.name;
      parts.push(text(PLOT_LEFT - 10, y + BAR_HEIGHT - 3, name, 'text-anchor="end" fill="#111827"'));
      if (value == null || !Number.isFinite(value) || value <= 0) {
        parts.push(text(x(1) + 6, y + BAR_HEIGHT - 3, 'not measured', 'fill="#9ca3af" font-style="italic"'));
        return;
      }
      const from = Math.min(x(1), x(value));
      const width = Math.max(2, Math.abs(x(value) - x(1)));
      parts.push(
        `<rect x="${from.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${PATH_COLOURS[path.name]}" rx="2"/>`,
      );
      const right = value >= 1;
      const labelX = right ? from + width + 5 : from - 5;
      parts.push(
        text(
          labelX,
          y + BAR_HEIGHT - 3,
          formatRatio(value),
          `text-anchor="${right ? 'start' : 'end'}" fill="#111827"`,
        ),
      );
    });
  });
  const footerY = height - FOOTER_HEIGHT + 18;
  parts.push(
    text(
      20,
      footerY,
      "Ratios are each figure divided by the direct path's figure from the same run; bars start at 1× (direct).",
      'fill="#4b5563"',
    ),
    text(
      20,
      footerY + 16,
      'The figures themselves, and what each path is, are in bench/latest.md.',
      'fill="#4b5563"',
    ),
    '</svg>',
  );
  return parts.join('\n') + '\n';
}
