/**
 * The source seam: where quotes come from.
 *
 * A source is an async iterable of valid {@linkcode Quote}s. It ends when its
 * input ends (a replay file) or when the signal aborts; a source that runs
 * forever (simulated, Finnhub) is bounded by the caller's signal.
 *
 * @module
 */
import type { Quote, Rejection } from "../contract/quote.ts";

/** Counters every source keeps; the producer logs them as progress. */
export interface SourceStats {
  /** Quotes yielded. */
  emitted: number;
  /** Inputs skipped or rejected, by reason (e.g. `all_zero`, `unchanged_t`, `invalid`). */
  skipped: Record<string, number>;
}

/** An input a source could not turn into a quote, for the dead-letter place. */
export interface SourceReject {
  /** Where the input came from, e.g. `quotes.csv:17`. */
  position: string;
  /** The input as read, e.g. the line's text. */
  input: string;
  /** Why it was rejected. */
  rejection: Rejection;
}

/** A stream of quotes. */
export interface QuoteSource {
  /** The source's name, written into each quote's `source` unless replayed. */
  readonly name: string;
  /** Counters so far. */
  readonly stats: SourceStats;
  /**
   * Yields quotes until the input ends or `signal` aborts.
   *
   * @param signal Stops the source; the iterator then returns.
   * @param onReject Called for each input the source rejects.
   */
  quotes(
    signal: AbortSignal,
    onReject?: (reject: SourceReject) => void | Promise<void>,
  ): AsyncIterable<Quote>;
}

/** Creates empty {@linkcode SourceStats}. */
export function emptyStats(): SourceStats {
  return { emitted: 0, skipped: {} };
}

/** Adds one to `stats.skipped[reason]`. */
export function countSkip(stats: SourceStats, reason: string): void {
  stats.skipped[reason] = (stats.skipped[reason] ?? 0) + 1;
}

/** The skip counters as flat log fields: `{ skipped_all_zero: 3, … }`. */
export function skipFields(stats: SourceStats): Record<string, number> {
  return Object.fromEntries(
    Object.entries(stats.skipped).map((
      [reason, n],
    ) => [`skipped_${reason}`, n]),
  );
}
