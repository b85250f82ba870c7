/**
 * The freshness report of `deno task demo --continuous`, on the real-time
 * cycle of `deno task follow` (./cycle.ts) against the DuckDB warehouse,
 * with the gold copy published as the service does (./gold_copy.ts): each
 * quote's freshness to RAW and to gold (./freshness.ts), kept as samples
 * for the percentiles of the report (and given to the metrics too).
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import type { DbtWorker } from "../transform/dbt.ts";
import type { Lake } from "../lake/lake.ts";
import type { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import { type CycleObserver, emptyCounters, runCycles } from "./cycle.ts";
import { dbtTransform, duckdbAccess, lakeLoad } from "./cycle_warehouse.ts";
import {
  freshnessObserver,
  type FreshnessRecorder,
  publishAsOf,
  recordFreshness,
} from "./freshness.ts";
import { goldCopyObserver } from "./gold_copy.ts";

/** Samples a {@linkcode Latencies} has room for before it first grows. */
const INITIAL_CAPACITY = 1024;

/**
 * Latency samples, in milliseconds, each with when it was measured, and their
 * percentiles.
 *
 * A continuous run asks for percentiles every few seconds (its progress
 * lines) while its samples grow to hundreds of thousands, so they are kept in
 * typed arrays that double when full, and the percentiles sort a copy kept in
 * one buffer, reused from call to call, instead of a new array each time.
 */
export class Latencies {
  #samples = new Float64Array(INITIAL_CAPACITY);
  #times = new Float64Array(INITIAL_CAPACITY);
  #count = 0;
  /** The samples in ascending order, up to `#sortedCount`, for the next percentile. */
  #sorted = new Float64Array(0);
  #sortedCount = 0;

  /**
   * Adds one sample.
   *
   * @param ms The latency.
   * @param at When it was measured, epoch milliseconds.
   */
  add(ms: number, at: number = Date.now()): void {
    if (this.#count === this.#samples.length) {
      this.#samples = grown(this.#samples);
      this.#times = grown(this.#times);
    }
    this.#samples[this.#count] = ms;
    this.#times[this.#count] = at;
    this.#count++;
  }

  /**
   * The samples measured from `from` up to, not including, `to`.
   *
   * @param from Epoch milliseconds.
   * @param to Epoch milliseconds.
   * @returns Those samples.
   */
  between(from: number, to: number): Latencies {
    const result = new Latencies();
    for (let i = 0; i < this.#count; i++) {
      const at = this.#times[i];
      if (at >= from && at < to) result.add(this.#samples[i], at);
    }
    return result;
  }

  /** Samples so far. */
  get count(): number {
    return this.#count;
  }

  /** When the first and the last sample were measured, epoch milliseconds (undefined without samples). */
  get span(): { first: number; last: number } | undefined {
    if (this.#count === 0) return undefined;
    let first = Infinity;
    let last = -Infinity;
    for (const at of this.#times.subarray(0, this.#count)) {
      first = Math.min(first, at);
      last = Math.max(last, at);
    }
    return { first, last };
  }

  /**
   * The samples of the first and of the last `ms` of the run, for the p95
   * of each: whether freshness holds as the run goes on.
   */
  ends(ms: number): { first: Latencies; last: Latencies } {
    const span = this.span;
    if (span === undefined) return { first: this, last: this };
    return {
      first: this.between(span.first, span.first + ms),
      last: this.between(span.last - ms + 1, span.last + 1),
    };
  }

  /**
   * The nearest-rank percentile of the samples so far.
   *
   * @param p The percentile, 0 to 100.
   * @returns Milliseconds, or `undefined` without samples.
   */
  percentile(p: number): number | undefined {
    return rank(this.#ascending(), p);
  }

  /** Count, p50, p95, p99 and max, for a log line or a report. */
  summary(): LatencySummary {
    const sorted = this.#ascending();
    return {
      samples: sorted.length,
      p50_ms: rank(sorted, 50),
      p95_ms: rank(sorted, 95),
      p99_ms: rank(sorted, 99),
      max_ms: rank(sorted, 100),
    };
  }

  /** The samples in ascending order, sorted again only after an `add`. */
  #ascending(): Float64Array {
    if (this.#sortedCount !== this.#count) {
      if (this.#sorted.length < this.#count) {
        this.#sorted = new Float64Array(this.#samples.length);
      }
      const sorted = this.#sorted.subarray(0, this.#count);
      sorted.set(this.#samples.subarray(0, this.#count));
      // A typed array sorts its numbers in place, in ascending order.
      sorted.sort();
      this.#sortedCount = this.#count;
    }
    return this.#sorted.subarray(0, this.#sortedCount);
  }
}

/** A copy of `values` with twice the room. */
function grown(values: Float64Array): Float64Array<ArrayBuffer> {
  const copy = new Float64Array(values.length * 2);
  copy.set(values);
  return copy;
}

/** The nearest-rank `p`th percentile of ascending `sorted`. */
function rank(sorted: Float64Array, p: number): number | undefined {
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
  /** Milliseconds from one load's commit to the next: the cycle's length. */
  cycleTimes: Latencies;
}

/** Options for {@linkcode runContinuous}. */
export interface ContinuousOptions {
  /** Settings: warehouse file, topic, objects per load. */
  config: Config;
  /** The lake being landed. */
  lake: Lake;
  /** The dbt to run each cycle. */
  dbt: DbtWorker;
  /** Ends the cycles, after one last cycle that takes what has landed. */
  stop: AbortSignal;
  /**
   * Shortest cycle, in milliseconds.
   *
   * @default {250}
   */
  minCycleMs?: number;
  /**
   * Least time between the end of a dbt run and the start of the next, in
   * milliseconds.
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
    cycleTimes: new Latencies(),
  };
}

/**
 * Loads and transforms on the real-time cycle until `stop` aborts, then
 * once more, measuring each quote's freshness.
 *
 * @param options Settings, lake, dbt and the stop signal.
 * @param stats Updated as the cycles go (for progress lines).
 * @returns The stats.
 * @throws {Error} When a load or a dbt run fails, or another process holds
 * the warehouse for longer than a load or a dbt run waits for it.
 */
export async function runContinuous(
  options: ContinuousOptions,
  stats: CycleStats = emptyCycleStats(),
): Promise<CycleStats> {
  const { config, lake, dbt, stop, minCycleMs = 250, transformEveryMs = 1500 } =
    options;
  await runCycles({
    warehouse: duckdbAccess(config),
    load: lakeLoad(config, lake),
    transform: dbtTransform(config, dbt),
    drain: stop,
    minCycleMs,
    transformEveryMs,
    observers: [
      goldCopyObserver(config, (copy) => stats.goldCopies.add(copy.ms)),
      freshnessObserver(recordInto(stats)),
      cycleTimeObserver(stats),
    ],
    onProgress(counters) {
      stats.cycles = counters.cycles;
      stats.loaded = counters.rows;
      stats.dbtRuns = counters.dbtRuns;
      publishAsOf(counters);
    },
  }, emptyCounters());
  return stats;
}

/** Records each quote's freshness in the run's stats and in the metrics. */
function recordInto(stats: CycleStats): FreshnessRecorder {
  return (layer, ms, at) => {
    (layer === "raw" ? stats.toRaw : stats.toGold).add(ms, at);
    recordFreshness(layer, ms, at);
  };
}

/** Measures the time from one load's commit to the next: the cycle's length. */
function cycleTimeObserver(stats: CycleStats): CycleObserver<DuckDBWarehouse> {
  let lastCommit: number | undefined;
  return {
    afterLoad(_warehouse, _totals, committedAt) {
      if (lastCommit !== undefined) {
        stats.cycleTimes.add(committedAt - lastCommit, committedAt);
      }
      lastCommit = committedAt;
      return Promise.resolve();
    },
  };
}
