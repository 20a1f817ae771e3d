/** Makes a string from a container safe to print: no control characters or escape sequences. */
export function terminalSafe(text: string): string {
  // C0 controls, DEL and C1 controls (which include CSI, 0x9b) are shown as '?': a container's process
  // name or label must never move the cursor, recolour or retitle the user's terminal.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** Lays out rows as left-aligned columns under a header. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const safeRows = rows.map((row) => row.map(terminalSafe));
  const widths = header.map((title, i) =>
    Math.max(title.length, ...safeRows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...safeRows.map(line)].join('\n') + '\n';
}
