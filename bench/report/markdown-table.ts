import type { TargetResult } from './results.js';

/** Pure: a target's row: its measured text and pass, or 'not measured' when the value is missing. */
export function check(
  target: string,
  measured: string,
  value: number | null | undefined,
  ok: (v: number) => boolean,
): TargetResult {
  const known = value != null && Number.isFinite(value);
  return { target, measured: known ? measured : 'not measured', pass: known ? ok(value) : null };
}

/** Pure: a markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Pure: a targets table (target, measured, PASS / FAIL / NOT MEASURED). */
export function targetsRows(targets: readonly TargetResult[]): string {
  return markdownTable(
    ['target', 'measured', ''],
    targets.map((t) => [t.target, t.measured, t.pass === null ? 'NOT MEASURED' : t.pass ? 'PASS' : 'FAIL']),
  );
}
