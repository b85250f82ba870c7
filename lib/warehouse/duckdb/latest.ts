/**
 * The latest quote of each symbol in the DuckDB warehouse (../latest.ts),
 * read from the file opened read-only: nothing is created, and a file that
 * does not exist, or where dbt has not built gold_latest_kpi, has none.
 *
 * @module
 */
import { resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { type LatestQuote, latestQuotesFromRows } from "../latest.ts";
import { GOLD_LATEST_BUILT, LATEST_QUOTES } from "./sql.ts";

/**
 * Reads the latest quote of each of `symbols` from gold_latest_kpi.
 *
 * @param path The DuckDB file.
 * @param symbols The symbols wanted.
 * @returns The latest quote of each symbol found, by symbol.
 * @throws {Error} When the file cannot be opened, e.g. another process holds it for writing.
 */
export async function readLatestQuotes(
  path: string,
  symbols: string[],
): Promise<Map<string, LatestQuote>> {
  const location = resolve(path);
  try {
    await Deno.stat(location);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Map();
    throw error;
  }
  const instance = await DuckDBInstance.create(location, {
    access_mode: "READ_ONLY",
  });
  const connection = await instance.connect();
  try {
    const [[built]] = (await connection.runAndReadAll(GOLD_LATEST_BUILT))
      .getRows();
    if (Number(built) !== 1) return new Map();
    const rows = (await connection.runAndReadAll(LATEST_QUOTES)).getRows();
    return latestQuotesFromRows(rows, symbols);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
