/**
 * What the warehouse knows of each symbol's latest quote, read from the dbt
 * model `gold_latest_kpi` (one row per symbol, so the read follows the number
 * of symbols, never the history). A simulated run that finds a symbol nowhere
 * in the stream's tail continues from here.
 *
 * DuckDB reads it from the file opened read-only (./duckdb/latest.ts),
 * Snowflake through a session (./snowflake/latest.ts).
 *
 * @module
 */
import type { Quote } from "../contract/quote.ts";

/** A symbol's latest quote as gold_latest_kpi states it, in the event's fields. */
export type LatestQuote = Pick<
  Quote,
  "symbol" | "c" | "o" | "h" | "l" | "pc" | "t"
>;

/** The schema and name of the dbt model the latest quotes are read from. */
export const GOLD_LATEST_KPI = { schema: "gold", name: "gold_latest_kpi" };

/**
 * Turns gold_latest_kpi rows (symbol, price, quote time in epoch seconds, day
 * open, day high, day low, previous close) into latest quotes, keeping the
 * symbols asked for and leaving out a row with a missing or non-positive figure.
 *
 * @param rows The rows, as any driver returns them (numbers as numbers, bigints or text).
 * @param symbols The symbols wanted.
 * @returns The latest quote of each symbol found, by symbol.
 */
export function latestQuotesFromRows(
  rows: Iterable<readonly unknown[]>,
  symbols: Iterable<string>,
): Map<string, LatestQuote> {
  const wanted = new Set(symbols);
  const found = new Map<string, LatestQuote>();
  for (const [symbol, ...figures] of rows) {
    if (typeof symbol !== "string" || !wanted.has(symbol)) continue;
    const [c, t, o, h, l, pc] = figures.map((value) =>
      value === null || value === undefined ? NaN : Number(value)
    );
    if (![c, o, h, l, pc].every((x) => x > 0) || !Number.isFinite(t)) continue;
    found.set(symbol, { symbol, c, o, h, l, pc, t: Math.floor(t) });
  }
  return found;
}
