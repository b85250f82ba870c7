/**
 * The latest quote of each symbol in the Snowflake warehouse (../latest.ts),
 * read from GOLD.GOLD_LATEST_KPI through a session; none where dbt has not
 * built the model.
 *
 * @module
 */
import { type LatestQuote, latestQuotesFromRows } from "../latest.ts";
import type { SnowflakeSession } from "./session.ts";
import { GOLD_LATEST_BUILT, LATEST_QUOTES } from "./sql.ts";

/**
 * Reads the latest quote of each of `symbols` from GOLD.GOLD_LATEST_KPI.
 *
 * @param session A connected session; it stays open.
 * @param symbols The symbols wanted.
 * @returns The latest quote of each symbol found, by symbol.
 * @throws {Error} When a statement fails, e.g. the role may not read GOLD.
 */
export async function readLatestQuotes(
  session: SnowflakeSession,
  symbols: string[],
): Promise<Map<string, LatestQuote>> {
  const [built] = (await session.execute(GOLD_LATEST_BUILT)).rows;
  if (Number(built?.N) !== 1) return new Map();
  const { rows } = await session.execute(LATEST_QUOTES);
  return latestQuotesFromRows(
    rows.map((row) => [
      row.SYMBOL,
      row.PRICE,
      row.T,
      row.DAY_OPEN,
      row.DAY_HIGH,
      row.DAY_LOW,
      row.PREV_CLOSE,
    ]),
    symbols,
  );
}
