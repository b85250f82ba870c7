/**
 * `deno task follow`, the real-time service: the cycle of ./cycle.ts on the
 * configured lake and warehouse (lib/app/wiring.ts), with one long-lived dbt
 * (`DbtWorker`), until stopped. It owns the service's lifecycle: checking
 * that dbt builds the warehouse the loader fills, starting and ending dbt,
 * the status file (./follow_status.ts), its few log lines, and what it
 * gives the metrics: each layer's as-of time, and on DuckDB each quote's
 * freshness (./freshness.ts).
 *
 * Logs stay quiet: one line when it starts, a progress line at most every
 * {@linkcode FollowOptions.summaryEveryMs} and only when something was loaded or
 * built since the last one, and one line when it stops. The loader and dbt
 * log failures themselves.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../runtime/config.ts";
import { logger } from "../runtime/log.ts";
import { DbtWorker } from "../transform/dbt.ts";
import { ensureVenv, VENV_DIR } from "../transform/venv.ts";
import type { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import {
  type CycleCounters,
  type CycleOptions,
  emptyCounters,
  runCycles,
} from "./cycle.ts";
import {
  dbtTransform,
  duckdbAccess,
  lakeLoad,
  sessionAccess,
} from "./cycle_warehouse.ts";
import {
  freshnessObserver,
  publishAsOf,
  recordFreshness,
} from "./freshness.ts";
import { StatusFile } from "./follow_status.ts";
import { goldCopyObserver } from "./gold_copy.ts";
import { openLake, openWarehouse } from "./wiring.ts";

const log = logger("follow");

/** Options for {@linkcode runFollow}. */
export interface FollowOptions {
  /** Settings: lake, warehouse, dbt target, `FOLLOW_*`. */
  config: Config;
  /**
   * Stops the service: the load transaction or dbt run under way finishes,
   * then it ends.
   */
  signal: AbortSignal;
  /**
   * Least time between two progress lines, in milliseconds.
   *
   * @default {60000}
   */
  summaryEveryMs?: number;
}

/**
 * Checks that dbt builds the warehouse the loader fills: `DBT_TARGET` names
 * the same warehouse as `WAREHOUSE`.
 *
 * @param config Settings.
 * @throws {RangeError} When they differ.
 */
export function checkTargets(config: Config): void {
  if (config.dbtTarget !== config.warehouse) {
    throw new RangeError(
      `Cannot follow as dbt would build another warehouse than the loader fills: WAREHOUSE is ${config.warehouse} and DBT_TARGET is ${config.dbtTarget}; set DBT_TARGET=${config.warehouse}`,
    );
  }
}

/**
 * Checks that the virtualenv that runs dbt has the adapter of `DBT_TARGET`:
 * `requirements.txt` brings dbt-duckdb only, and dbt-snowflake is installed
 * beside it by hand (the dbt image does it at build).
 *
 * @param config Settings: `DBT_TARGET`.
 * @param venv The virtualenv.
 * @throws {Error} When the adapter is missing, saying how to install it.
 */
export async function checkDbtAdapter(
  config: Config,
  venv: string = VENV_DIR,
): Promise<void> {
  const adapter = config.dbtTarget;
  const lib = join(venv, "lib");
  const pythons = await Array.fromAsync(Deno.readDir(lib)).catch(() => []);
  for (const python of pythons) {
    const path = join(lib, python.name, "site-packages", "dbt", "adapters");
    if (await Deno.stat(join(path, adapter)).then(() => true, () => false)) {
      return;
    }
  }
  throw new Error(
    `Cannot follow with DBT_TARGET=${adapter} as the virtualenv ${venv} has no dbt-${adapter}: install it beside requirements.txt (${
      join(venv, "bin", "pip")
    } install dbt-${adapter}, at the version dbt_stocks/Dockerfile pins)`,
  );
}

/**
 * Runs the service until `signal` aborts, then ends dbt and marks the
 * status file stopped.
 *
 * @param options Settings and the stop signal.
 * @returns The counters of the run.
 * @throws {RangeError} When `DBT_TARGET` and `WAREHOUSE` differ.
 * @throws {Error} When the virtualenv lacks the target's dbt adapter, dbt
 * cannot start, a load or a dbt run fails, or
 * another process holds the DuckDB file for longer than a step waits; the
 * status file then says `failed`.
 */
export async function runFollow(
  options: FollowOptions,
): Promise<CycleCounters> {
  const { config, signal, summaryEveryMs = 60_000 } = options;
  checkTargets(config);
  await ensureVenv();
  await checkDbtAdapter(config);
  const status = new StatusFile(config.followStatusPath);
  const counters = emptyCounters();
  status.update(counters);
  const lake = openLake(config);
  let dbt: DbtWorker;
  try {
    dbt = await DbtWorker.start({
      duckdbPath: config.duckdbPath,
      target: config.dbtTarget,
    });
  } catch (error) {
    status.end(counters, (error as Error)?.message?.split("\n")[0]);
    throw error;
  }
  log.info("following the lake", {
    lake: lake.location,
    warehouse: config.warehouse === "duckdb"
      ? config.duckdbPath
      : config.warehouse,
    cycle_ms: config.followCycleMs,
    transform_every_ms: config.followTransformEveryMs,
    status: config.followStatusPath,
  });
  const stopSummary = summarise(counters, summaryEveryMs);
  const common = {
    transform: dbtTransform(config, dbt),
    signal,
    minCycleMs: config.followCycleMs,
    transformEveryMs: config.followTransformEveryMs,
    // Rows a run before this one loaded but did not transform reach gold now.
    transformAtStart: true,
    onProgress: (c: CycleCounters) => {
      status.update(c);
      publishAsOf(c);
    },
  } satisfies Partial<CycleOptions<unknown>>;
  try {
    if (config.warehouse === "duckdb") {
      await runCycles<DuckDBWarehouse>({
        ...common,
        warehouse: duckdbAccess(config),
        load: lakeLoad(config, lake),
        observers: [
          goldCopyObserver(config),
          freshnessObserver(recordFreshness),
        ],
      }, counters);
    } else {
      await runCycles<Warehouse>({
        ...common,
        warehouse: sessionAccess(() => openWarehouse(config)),
        load: lakeLoad(config, lake),
      }, counters);
    }
  } catch (error) {
    status.end(counters, (error as Error)?.message?.split("\n")[0]);
    throw error;
  } finally {
    stopSummary();
    await dbt.close();
  }
  status.end(counters);
  log.info("stopped", counterFields(counters));
  return counters;
}

/** Logs a progress line every `everyMs` when rows or dbt runs were added. */
function summarise(counters: CycleCounters, everyMs: number): () => void {
  let rows = 0;
  let dbtRuns = 0;
  const timer = setInterval(() => {
    if (counters.rows === rows && counters.dbtRuns === dbtRuns) return;
    log.info("progress", {
      ...counterFields(counters),
      new_rows: counters.rows - rows,
    });
    rows = counters.rows;
    dbtRuns = counters.dbtRuns;
  }, everyMs);
  return () => clearInterval(timer);
}

/** The counters as log fields, with the lags of RAW and gold. */
function counterFields(counters: CycleCounters): Record<string, unknown> {
  const lag = (asOf: number | undefined) =>
    asOf === undefined ? undefined : Date.now() - asOf;
  return {
    cycles: counters.cycles,
    objects: counters.objects,
    rows: counters.rows,
    duplicates: counters.duplicates,
    rejected: counters.rejected,
    dbt_runs: counters.dbtRuns,
    last_dbt_ms: counters.lastDbtMs,
    avg_dbt_ms: counters.dbtRuns === 0
      ? undefined
      : Math.round(counters.dbtMs / counters.dbtRuns),
    raw_lag_ms: lag(counters.rawAsOf),
    gold_lag_ms: lag(counters.goldAsOf),
  };
}
