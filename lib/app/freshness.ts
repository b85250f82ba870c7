/**
 * Freshness of the warehouse's layers as the real-time cycle (./cycle.ts)
 * sees it, for the metrics (lib/ops/metrics/) and the demo's report
 * (./continuous.ts), in two measures:
 *
 * - each quote's freshness, on the DuckDB warehouse: to RAW, from its
 *   `fetched_at` to the end of the load that committed its row (every quote
 *   loaded); to gold, from its `fetched_at` to the end of the dbt run after
 *   which it is its symbol's row in `gold_latest_kpi` (each such row once);
 * - each layer's as-of time, on any warehouse: every object landed before
 *   it is in the layer (the cycle's `rawAsOf` and `goldAsOf`). It stops
 *   moving when loads or dbt runs stop, whether quotes arrive or not, which
 *   is what the freshness alert watches.
 *
 * @module
 */
import { type Layer, metrics } from "../ops/metrics/registry.ts";
import type { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import type { CycleCounters, CycleObserver } from "./cycle.ts";

/**
 * Takes one quote's freshness.
 *
 * @param layer `raw` or `gold`.
 * @param ms Milliseconds from the quote's `fetched_at`.
 * @param at When it was measured, epoch milliseconds.
 */
export type FreshnessRecorder = (layer: Layer, ms: number, at: number) => void;

/** Records a quote's freshness in the metrics. */
export const recordFreshness: FreshnessRecorder = (layer, ms) =>
  metrics.observeFreshness(layer, ms);

/** RAW rows committed after a `loaded_at` (epoch microseconds), with their `fetched_at`. */
const RAW_SINCE = `
select epoch_us(loaded_at), (v->>'fetched_at')::bigint
from raw.source_stock_quotes
where loaded_at > make_timestamptz($1::bigint)`;

/** Whether dbt has built `gold_latest_kpi`. */
const GOLD_BUILT = `
select count(*) from information_schema.tables
where table_schema = 'gold' and table_name = 'gold_latest_kpi'`;

/** Each symbol's quote in `gold_latest_kpi`. */
const GOLD_LATEST =
  "select symbol, epoch_ms(fetched_at) from gold.gold_latest_kpi";

/**
 * Measures each quote's freshness to RAW after each load and to gold after
 * each dbt run, on the DuckDB warehouse. Only quotes loaded by this process
 * count: it starts past what the warehouse holds.
 *
 * @param record Takes each measure.
 * @returns The cycle's observer.
 */
export function freshnessObserver(
  record: FreshnessRecorder,
): CycleObserver<DuckDBWarehouse> {
  let watermark: bigint | undefined;
  const inGold = new Map<string, number>();
  let dbtFinishedAt = 0;
  // Gold changes only when dbt runs: a new row there is as fresh as that run's end.
  const measureGold = async (warehouse: DuckDBWarehouse) => {
    for (const fetchedAt of observeGold(await goldLatest(warehouse), inGold)) {
      record("gold", dbtFinishedAt - fetchedAt, dbtFinishedAt);
    }
  };
  return {
    async beforeLoad(warehouse) {
      if (watermark !== undefined) return await measureGold(warehouse);
      const [[latest]] = await warehouse.query(
        "select coalesce(max(epoch_us(loaded_at)), 0) from raw.source_stock_quotes",
      );
      watermark = BigInt(latest as bigint);
      observeGold(await goldLatest(warehouse), inGold);
    },
    async afterLoad(warehouse, _totals, committedAt) {
      for (
        const [loadedAt, fetchedAt] of await warehouse.query(RAW_SINCE, [
          watermark ?? 0n,
        ])
      ) {
        if ((loadedAt as bigint) > (watermark ?? 0n)) {
          watermark = loadedAt as bigint;
        }
        record("raw", committedAt - Number(fetchedAt), committedAt);
      }
    },
    afterTransform(finishedAt) {
      dbtFinishedAt = finishedAt;
    },
    atEnd: measureGold,
  };
}

/**
 * Sets each layer's as-of time in the metrics from the cycle's counters;
 * call it from the cycle's `onProgress`.
 *
 * @param counters The cycle's counters.
 */
export function publishAsOf(counters: CycleCounters): void {
  if (counters.rawAsOf !== undefined) {
    metrics.setAsOf("raw", counters.rawAsOf);
  }
  if (counters.goldAsOf !== undefined) {
    metrics.setAsOf("gold", counters.goldAsOf);
  }
}

async function goldLatest(warehouse: DuckDBWarehouse): Promise<unknown[][]> {
  const [[built]] = await warehouse.query(GOLD_BUILT);
  return Number(built) > 0 ? await warehouse.query(GOLD_LATEST) : [];
}

/** Records each symbol's gold quote; returns the `fetched_at` of those not seen before. */
function observeGold(rows: unknown[][], seen: Map<string, number>): number[] {
  const fresh: number[] = [];
  for (const [symbol, fetchedAt] of rows) {
    const at = Number(fetchedAt);
    if (seen.get(symbol as string) === at) continue;
    seen.set(symbol as string, at);
    fresh.push(at);
  }
  return fresh;
}
