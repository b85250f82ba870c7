/**
 * The source seam: where events come from.
 *
 * A source yields events of one kind ({@linkcode Source.kind}: quotes or
 * trades), each valid by its kind's contract (`CONTRACTS[kind].validate`).
 * It ends when its input ends (a replay file) or when the signal aborts; a
 * source that runs forever (simulated, Finnhub) is bounded by the caller's
 * signal.
 *
 * @module
 */
import type { Rejection } from "../contract/rules.ts";
import type { EventKind, MarketEvent } from "../contract/kinds.ts";
import type { Quote } from "../contract/quote.ts";
import type { Trade } from "../contract/trade.ts";

/** Counters every source keeps; the producer logs them as progress. */
export interface SourceStats {
  /** Events yielded. */
  emitted: number;
  /** Inputs skipped or rejected, by reason (e.g. `all_zero`, `unchanged_t`, `invalid`). */
  skipped: Record<string, number>;
  /**
   * Other counters of the source, by name (the trades WebSocket's
   * `messages`, `trades`, `pings`, `reconnects`); absent when it keeps none.
   */
  counts?: Record<string, number>;
}

/** An input a source could not turn into an event, for the dead-letter place. */
export interface SourceReject {
  /** Where the input came from, e.g. `quotes.csv:17`. */
  position: string;
  /** The input as read, e.g. the line's text. */
  input: string;
  /** Why it was rejected. */
  rejection: Rejection;
}

/** Called for each input a source rejects. */
export type OnReject = (reject: SourceReject) => void | Promise<void>;

/** A stream of events of one kind. */
export interface Source<E extends MarketEvent = MarketEvent> {
  /**
   * The source's name, written into each event's `source` unless replayed,
   * and naming its dead-letter place (`dead-letter/source=<name>/`).
   */
  readonly name: string;
  /** The kind of every event it yields: the topic they go to. */
  readonly kind: EventKind;
  /** Counters so far. */
  readonly stats: SourceStats;
  /**
   * Yields events until the input ends or `signal` aborts.
   *
   * @param signal Stops the source; the iterator then returns.
   * @param onReject Called for each input the source rejects.
   */
  events(signal: AbortSignal, onReject?: OnReject): AsyncIterable<E>;
}

/** A source of quotes. */
export interface QuoteSource extends Source<Quote> {
  /** Always `quotes`. */
  readonly kind: "quotes";
}

/** A source of trades. */
export interface TradeSource extends Source<Trade> {
  /** Always `trades`. */
  readonly kind: "trades";
}

/** Creates empty {@linkcode SourceStats}. */
export function emptyStats(): SourceStats {
  return { emitted: 0, skipped: {} };
}

/** Adds one to `stats.skipped[reason]`. */
export function countSkip(stats: SourceStats, reason: string): void {
  stats.skipped[reason] = (stats.skipped[reason] ?? 0) + 1;
}

/** Adds `n` to `stats.counts[name]`. */
export function count(stats: SourceStats, name: string, n = 1): void {
  stats.counts ??= {};
  stats.counts[name] = (stats.counts[name] ?? 0) + n;
}

/**
 * The counters as flat log fields: `{ skipped_all_zero: 3, … }`, then the
 * source's other counts under their own names.
 */
export function skipFields(stats: SourceStats): Record<string, number> {
  return {
    ...Object.fromEntries(
      Object.entries(stats.skipped).map((
        [reason, n],
      ) => [`skipped_${reason}`, n]),
    ),
    ...stats.counts,
  };
}
