/**
 * How the real-time cycle (./cycle.ts) holds each warehouse and runs dbt on
 * it, and its load step.
 *
 * - DuckDB: a file takes one writing process at a time, and dbt is another
 *   process, so each load step opens the file and closes it after; dbt waits
 *   for the file's lock as a load does (up to 60 s, lock_wait.ts).
 * - Snowflake (and any warehouse `openWarehouse` returns): one session,
 *   opened at the first load step and kept until the cycles end; dbt runs
 *   beside it.
 *
 * @module
 */
import { resolve } from "node:path";
import { metrics } from "../ops/metrics/registry.ts";
import type { Config } from "../runtime/config.ts";
import type { Lake } from "../lake/lake.ts";
import {
  type DbtWorker,
  FREQUENT_BUILD,
  FREQUENT_MODELS,
  SEEDS,
} from "../transform/dbt.ts";
import { waitForLock } from "../warehouse/duckdb/lock_wait.ts";
import { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { LoadStep, WarehouseAccess } from "./cycle.ts";
import { configuredGoldCopy } from "./gold_copy.ts";
import { loadKinds } from "./load_kinds.ts";

/**
 * The DuckDB warehouse of `DUCKDB_PATH`, opened for each use and closed
 * after it.
 *
 * @param config Settings: the warehouse file and its gold copy.
 * @returns The access.
 */
export function duckdbAccess(config: Config): WarehouseAccess<DuckDBWarehouse> {
  const goldCopy = configuredGoldCopy(config);
  return {
    async use(work) {
      const warehouse = await DuckDBWarehouse.open(config.duckdbPath, {
        goldCopy,
        memoryMib: config.duckdbMemoryMib,
      });
      try {
        return await work(warehouse);
      } finally {
        await warehouse.close();
      }
    },
    async close() {},
  };
}

/**
 * A warehouse session opened at the first use and kept until
 * {@linkcode WarehouseAccess.close}.
 *
 * @param open Opens the session, e.g. `openWarehouse(config)`.
 * @returns The access.
 */
export function sessionAccess<W extends Warehouse>(
  open: () => Promise<W>,
): WarehouseAccess<W> {
  let session: Promise<W> | undefined;
  return {
    async use(work) {
      session ??= open();
      return await work(await session);
    },
    async close() {
      const held = session;
      session = undefined;
      if (held) await (await held.catch(() => undefined))?.close();
    },
  };
}

/**
 * The load step: the loader's `loadNewObjects` on the lake, for each kind's
 * topic in turn (./load_kinds.ts) and the configured batch size, stopping
 * between transactions on a stop.
 *
 * @param config Settings: each kind's topic, `LOAD_MAX_FILES`, `LOAD_MAX_EVENTS`.
 * @param lake The lake being landed.
 * @returns The step.
 */
export function lakeLoad<W extends Warehouse>(
  config: Config,
  lake: Lake,
): LoadStep<W> {
  return (warehouse, signal, onProgress) =>
    loadKinds({ config, lake, warehouse, signal, onProgress });
}

/** How often the real-time cycle's dbt run includes the frequent path's data tests. */
export const DEFAULT_TEST_EVERY_MS = 60_000;

/**
 * The transform step, through the long-lived dbt: the seeds once
 * ({@linkcode SEEDS}), then the frequent path's models
 * ({@linkcode FREQUENT_MODELS}) every time, and its whole build, models and
 * the data tests on recently transformed rows ({@linkcode FREQUENT_BUILD}),
 * at the first run and then at most every `testEveryMs`: the tests' window
 * (5 minutes) is longer, so every row is tested. On DuckDB it waits for a
 * process holding the file, as a load does. Each dbt command's duration
 * goes to the metrics.
 *
 * @param config Settings: `WAREHOUSE`, the DuckDB file and its gold copy.
 * @param dbt The long-lived dbt.
 * @param testEveryMs Least time between two runs with the tests.
 * @returns The step; it throws `dbt <command> failed` with dbt's output.
 */
export function dbtTransform(
  config: Config,
  dbt: DbtWorker,
  testEveryMs = DEFAULT_TEST_EVERY_MS,
): () => Promise<void> {
  let testedAt = -Infinity;
  let seeded = false;
  const timed = async (args: readonly string[]) => {
    const started = performance.now();
    try {
      return await dbt.run(args);
    } finally {
      metrics.observeDbtRun(args[0], performance.now() - started);
    }
  };
  const run = async () => {
    if (!seeded) {
      // once per process: the frequent path leaves the seeds out
      const seed = await timed(SEEDS);
      if (!seed.success) throw new Error(`dbt seed failed\n${seed.output}`);
      seeded = true;
    }
    const started = Date.now();
    const args = started - testedAt >= testEveryMs
      ? FREQUENT_BUILD
      : FREQUENT_MODELS;
    const result = await timed(args);
    if (!result.success) {
      throw new Error(`dbt ${args[0]} failed\n${result.output}`);
    }
    if (args === FREQUENT_BUILD) testedAt = started;
  };
  if (config.warehouse !== "duckdb") return run;
  return () =>
    waitForLock({
      path: resolve(config.duckdbPath),
      action: "run dbt on the DuckDB warehouse",
      goldCopy: configuredGoldCopy(config),
    }, run);
}
