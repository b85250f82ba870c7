/**
 * The cycle of `deno task demo --continuous`: while quotes are landed, load
 * the new lake objects into the DuckDB warehouse and run dbt, again and
 * again, and measure each quote's freshness on the way:
 *
 * - to RAW: from its `fetched_at` to the end of the load that committed its
 *   row (every quote loaded);
 * - to gold: from its `fetched_at` to the end of the dbt run after which it
 *   is its symbol's row in `gold_latest_kpi` (each such row once).
 *
 * One cycle opens the DuckDB file, loads, closes it, then runs dbt through
 * a {@linkcode DbtWorker} (a DuckDB file takes one writing process at a
 * time, so the two take turns; both wait, up to 60 s, for any other process
 * that holds the file). After a dbt run, the next cycle first
 * writes the gold copy that readers open instead of the warehouse
 * (lib/warehouse/duckdb/gold_copy.ts), at most every
 * `DUCKDB_GOLD_COPY_EVERY_MS`, and at least ten times the last copy's own
 * duration apart, since gold, and with it the copy's cost, grows with the
 * history.
 *
 * @module
 */
import { resolve } from "node:path";
import type { Config } from "../runtime/config.ts";
import { logger } from "../runtime/log.ts";
import type { DbtWorker } from "../transform/dbt.ts";
import type { Lake } from "../lake/lake.ts";
import { loadNewObjects } from "../load/loader.ts";
import { writeGoldCopy } from "../warehouse/duckdb/gold_copy.ts";
import { waitForLock } from "../warehouse/duckdb/lock_wait.ts";
import { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import { configuredGoldCopy, goldCopyFields } from "./gold_copy.ts";

const log = logger("continuous");

/**
 * Gold copies are at least this many times the last copy's duration apart,
 * so copying takes at most about a tenth of the cycle's time.
 */
const GOLD_COPY_COST_FACTOR = 10;

/** Latency samples, in milliseconds, and their percentiles. */
export class Latencies {
  #samples: number[] = [];

  /** Adds one sample. */
  add(ms: number): void {
    this.#samples.push(ms);
  }

  /** Samples so far. */
  get count(): number {
    return this.#samples.length;
  }

  /**
   * The nearest-rank percentile of the samples so far.
   *
   * @param p The percentile, 0 to 100.
   * @returns Milliseconds, or `undefined` without samples.
   */
  percentile(p: number): number | undefined {
    return rank(this.#sorted(), p);
  }

  /** Count, p50, p95, p99 and max, for a log line or a report. */
  summary(): LatencySummary {
    const sorted = this.#sorted();
    return {
      samples: sorted.length,
      p50_ms: rank(sorted, 50),
      p95_ms: rank(sorted, 95),
      p99_ms: rank(sorted, 99),
      max_ms: rank(sorted, 100),
    };
  }

  #sorted(): number[] {
    return [...this.#samples].sort((a, b) => a - b);
  }
}

/** The nearest-rank `p`th percentile of ascending `sorted`. */
function rank(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const at = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(at, 1), sorted.length) - 1];
}

/** What {@linkcode Latencies.summary} returns. */
export interface LatencySummary {
  /** Samples measured. */
  samples: number;
  /** Median, milliseconds. */
  p50_ms: number | undefined;
  /** 95th percentile, milliseconds. */
  p95_ms: number | undefined;
  /** 99th percentile, milliseconds. */
  p99_ms: number | undefined;
  /** Largest, milliseconds. */
  max_ms: number | undefined;
}

/** Counters and freshness of a continuous run, updated as it goes. */
export interface CycleStats {
  /** Cycles completed. */
  cycles: number;
  /** Rows inserted into RAW. */
  loaded: number;
  /** dbt runs. */
  dbtRuns: number;
  /** `fetched_at` → RAW commit. */
  toRaw: Latencies;
  /** `fetched_at` → end of the dbt run that put it in `gold_latest_kpi`. */
  toGold: Latencies;
  /** Milliseconds each gold copy took to write. */
  goldCopies: Latencies;
}

/** Options for {@linkcode runCycles}. */
export interface CycleOptions {
  /** Settings: warehouse file, topic, objects per load. */
  config: Config;
  /** The lake being landed. */
  lake: Lake;
  /** The dbt to run each cycle. */
  dbt: DbtWorker;
  /** Stops the cycles, after one last cycle that takes what has landed. */
  stop: AbortSignal;
  /**
   * Shortest cycle, in milliseconds: a quiet stream is not polled faster.
   *
   * @default {250}
   */
  minCycleMs?: number;
  /**
   * Least time between the end of a dbt run and the start of the next, in
   * milliseconds. dbt holds the DuckDB file while it runs, so loads wait for
   * it: spacing the runs out keeps loads frequent (freshness to RAW) at some
   * cost to freshness to gold.
   *
   * @default {1500}
   */
  transformEveryMs?: number;
}

/** Creates empty {@linkcode CycleStats}. */
export function emptyCycleStats(): CycleStats {
  return {
    cycles: 0,
    loaded: 0,
    dbtRuns: 0,
    toRaw: new Latencies(),
    toGold: new Latencies(),
    goldCopies: new Latencies(),
  };
}

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
 * Loads and transforms on a short cycle until `stop` aborts, then once more.
 *
 * @param options Settings, lake, dbt and the stop signal.
 * @param stats Updated as the cycles go (for progress lines).
 * @returns The stats.
 * @throws {Error} When a load or a dbt run fails, or another process holds
 * the warehouse for longer than a load or a dbt run waits for it.
 */
export async function runCycles(
  options: CycleOptions,
  stats: CycleStats = emptyCycleStats(),
): Promise<CycleStats> {
  const {
    config,
    lake,
    dbt,
    stop,
    minCycleMs = 250,
    transformEveryMs = 1500,
  } = options;
  // Only this run's quotes count: start past what the warehouse holds.
  let watermark = 0n;
  const inGold = new Map<string, number>();
  const goldCopy = configuredGoldCopy(config);
  await withWarehouse(config, goldCopy, async (warehouse) => {
    const [[latest]] = await warehouse.query(
      "select coalesce(max(epoch_us(loaded_at)), 0) from raw.source_stock_quotes",
    );
    watermark = BigInt(latest as bigint);
    observeGold(await goldLatest(warehouse), inGold);
  });
  let dbtFinishedAt = 0;
  let pending = false;
  // Gold changes only when dbt runs: a new row there is as fresh as that run's end.
  const measureGold = async (warehouse: DuckDBWarehouse) => {
    for (const fetchedAt of observeGold(await goldLatest(warehouse), inGold)) {
      stats.toGold.add(dbtFinishedAt - fetchedAt);
    }
  };
  let copyDue = false;
  let copiedAt = -Infinity;
  let lastCopyMs = 0;
  // The copy readers open instead of the warehouse, after a dbt run.
  const copyGold = async (warehouse: DuckDBWarehouse, always: boolean) => {
    const spacing = Math.max(
      config.duckdbGoldCopyEveryMs,
      GOLD_COPY_COST_FACTOR * lastCopyMs,
    );
    if (!copyDue || (!always && performance.now() - copiedAt < spacing)) {
      return;
    }
    const copy = await writeGoldCopy(warehouse, goldCopy, {
      source: warehouse.location,
    });
    copiedAt = performance.now();
    lastCopyMs = copy.ms;
    copyDue = false;
    stats.goldCopies.add(copy.ms);
    log.debug("published the gold copy", goldCopyFields(copy));
  };
  for (let last = false; !last;) {
    last = stop.aborted;
    const started = performance.now();
    await withWarehouse(config, goldCopy, async (warehouse) => {
      await copyGold(warehouse, false);
      await measureGold(warehouse);
      const totals = await loadNewObjects({
        lake,
        warehouse,
        topic: config.topic,
        filesPerLoad: config.loadMaxFiles,
      });
      const committedAt = Date.now();
      if (totals.inserted === 0) return;
      pending = true;
      stats.loaded += totals.inserted;
      for (
        const [loadedAt, fetchedAt] of await warehouse.query(RAW_SINCE, [
          watermark,
        ])
      ) {
        if ((loadedAt as bigint) > watermark) watermark = loadedAt as bigint;
        stats.toRaw.add(committedAt - Number(fetchedAt));
      }
    });
    if (pending && (last || Date.now() - dbtFinishedAt >= transformEveryMs)) {
      // dbt waits for a reader holding the warehouse as a load does.
      await waitForLock({
        path: resolve(config.duckdbPath),
        action: "run dbt on the DuckDB warehouse",
        goldCopy,
      }, async () => {
        // the frequent path: the models, and the data tests on new rows
        const result = await dbt.run();
        if (!result.success) {
          throw new Error(`dbt build failed\n${result.output}`);
        }
      });
      dbtFinishedAt = Date.now();
      stats.dbtRuns++;
      pending = false;
      copyDue = true;
    }
    stats.cycles++;
    if (!last) await pause(minCycleMs - (performance.now() - started), stop);
  }
  // What the last run put in gold, and a copy of it.
  await withWarehouse(config, goldCopy, async (warehouse) => {
    await measureGold(warehouse);
    await copyGold(warehouse, true);
  });
  return stats;
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

async function withWarehouse(
  config: Config,
  goldCopy: string,
  work: (warehouse: DuckDBWarehouse) => Promise<void>,
): Promise<void> {
  const warehouse = await DuckDBWarehouse.open(config.duckdbPath, {
    goldCopy,
  });
  try {
    await work(warehouse);
  } finally {
    await warehouse.close();
  }
}

function pause(ms: number, stop: AbortSignal): Promise<void> {
  if (ms <= 0 || stop.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stop.addEventListener("abort", done, { once: true });
  });
}
