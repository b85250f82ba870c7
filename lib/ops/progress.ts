/**
 * Progress of long runs: a periodic line with counts and rates.
 *
 * @module
 */

/** Counts to report, by name; rates are derived from their change. */
export type Counts = Record<string, number>;

/** Options for {@linkcode reportProgress}. */
export interface ProgressOptions {
  /**
   * Interval between lines, in milliseconds.
   *
   * @default {5000}
   */
  intervalMs?: number;
  /** Name of the count whose rate is reported as `<name>_per_s`. */
  rateOf: string;
}

/**
 * Calls `write` every interval with the current counts and the rate of
 * `rateOf` since the last line; returns a function that stops it.
 *
 * @param read Reads the current counts.
 * @param write Writes one progress line.
 * @param options Interval and the count whose rate is shown.
 * @returns A function that stops the reports.
 */
export function reportProgress(
  read: () => Counts,
  write: (counts: Counts) => void,
  options: ProgressOptions,
): () => void {
  const { intervalMs = 5000, rateOf } = options;
  let last = read()[rateOf] ?? 0;
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const counts = read();
    const now = performance.now();
    const value = counts[rateOf] ?? 0;
    const rate = ((value - last) * 1000) / Math.max(now - lastAt, 1);
    last = value;
    lastAt = now;
    write({ ...counts, [`${rateOf}_per_s`]: Math.round(rate) });
  }, intervalMs);
  return () => clearInterval(timer);
}
