/** The first wait after a failed read of the engine or of /proc, before it is tried again. */
export const RETRY_FIRST_MS = 250;
/**
 * The longest wait between tries. A failure here is the host's or the transport's (out of file
 * descriptors, an SSH link down); once it clears, the forwarder sees new listeners within this.
 */
export const RETRY_MAX_MS = 4_000;

/** Pure: the wait before the next try after `failures` failures in a row (1 or more): doubling, capped. */
export function retryDelayMs(failures: number, firstMs = RETRY_FIRST_MS, maxMs = RETRY_MAX_MS): number {
  const doublings = Math.max(0, Math.min(failures - 1, 30));
  return Math.min(firstMs * 2 ** doublings, maxMs);
}
