/** Pure: a number with about three significant digits ("0.412", "41.2", "4120"); '—' for none. */
export function formatNumber(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return Math.round(value).toString();
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** Pure: a ratio to direct as "1.3×"; '' for none. */
export function formatRatio(value: number | null | undefined): string {
  return value == null || !Number.isFinite(value) ? '' : `${formatNumber(value)}×`;
}

/** Pure: "value (ratio×)", or the value alone when there is no ratio. */
export function withRatio(value: number | null | undefined, ratioValue: number | null | undefined): string {
  const text = formatNumber(value);
  const r = formatRatio(ratioValue);
  return r === '' || text === '—' ? text : `${text} (${r})`;
}
