/**
 * Where a simulated run continues from, symbol by symbol: its last quote in
 * the stream's tail (the most recent truth: events may be published and not
 * yet loaded), else its latest quote in the warehouse's gold_latest_kpi, else
 * nothing, and the walk starts at its typical price. Each read is bounded by
 * the number of symbols. One log line says where the run resumed from.
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import { logger } from "../runtime/log.ts";
import { lastQuotesInStream } from "../produce/resume.ts";
import type { WalkState } from "../produce/sources/simulated.ts";
import type { Stream } from "../stream/stream.ts";
import { readWarehouseLatest } from "./wiring.ts";

const log = logger("simulated");

/** How many symbols a run resumed from each place. */
export interface ResumeOrigins {
  /** From their last quote in the stream's tail. */
  stream: number;
  /** From their latest quote in the warehouse. */
  warehouse: number;
  /** From their typical price: found in neither. */
  seed: number;
}

/**
 * Finds where each configured symbol continues from, and logs it. A
 * warehouse that cannot be read (a DuckDB file another process holds, say)
 * is logged as a warning, and its symbols start at their typical price.
 *
 * @param config Settings: the symbols and the warehouse.
 * @param stream The stream the run publishes to.
 * @returns Each found symbol's last quote, by symbol, and how many came from where.
 * @throws {Error} When the stream cannot be read.
 */
export async function findResumePoints(
  config: Config,
  stream: Stream,
): Promise<{ points: Map<string, WalkState>; origins: ResumeOrigins }> {
  const { symbols } = config;
  const points = new Map<string, WalkState>(
    await lastQuotesInStream(stream, symbols),
  );
  const fromStream = points.size;
  const missing = symbols.filter((symbol) => !points.has(symbol));
  if (missing.length > 0) {
    try {
      for (
        const [symbol, quote] of await readWarehouseLatest(config, missing)
      ) {
        points.set(symbol, quote);
      }
    } catch (error) {
      log.warn(
        "could not read the warehouse's latest quotes: symbols missing from the stream start at their typical price",
        { symbols: missing.length, error },
      );
    }
  }
  const origins = {
    stream: fromStream,
    warehouse: points.size - fromStream,
    seed: symbols.length - points.size,
  };
  const latest = Math.max(...[...points.values()].map((point) => point.t));
  log.info("resumed the simulated walk", {
    from_stream: origins.stream,
    from_warehouse: origins.warehouse,
    from_seed: origins.seed,
    ...(points.size > 0
      ? { last_quote_at: new Date(latest * 1000).toISOString() }
      : {}),
  });
  return { points, origins };
}
