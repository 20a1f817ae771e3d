const started = Date.now();

/** Writes one progress line to stderr (stdout is kept for the table), with the run's elapsed time. */
export function progress(message: string): void {
  const seconds = Math.round((Date.now() - started) / 1000);
  const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  process.stderr.write(`bench [${clock}] ${message}\n`);
}
