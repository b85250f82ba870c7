/**
 * When and where the entry points publish the gold copy
 * (lib/warehouse/duckdb/gold_copy.ts): after a dbt command that builds
 * models on the DuckDB target, to `DUCKDB_GOLD_COPY_PATH`, or
 * `gold_copy.duckdb` beside the warehouse. `deno task transform`,
 * `deno task copy-gold` (the Airflow DAGs' step after `dbt build`) and the
 * demo call {@linkcode publishGoldCopy}; the continuous cycle writes the
 * copy through the warehouse it already has open (./continuous.ts).
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import { logger } from "../runtime/log.ts";
import {
  type GoldCopy,
  goldCopyPath,
  writeGoldCopy,
} from "../warehouse/duckdb/gold_copy.ts";
import { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";

const log = logger("gold-copy");

/** dbt commands that build models, after which gold may have changed. */
const BUILDING_COMMANDS = new Set(["build", "run"]);

/**
 * The gold copy of the configured warehouse.
 *
 * @param config Settings: `DUCKDB_PATH`, `DUCKDB_GOLD_COPY_PATH`.
 * @returns Its path, absolute.
 * @throws {RangeError} When `DUCKDB_GOLD_COPY_PATH` cannot be the copy.
 */
export function configuredGoldCopy(config: Config): string {
  return goldCopyPath(config.duckdbPath, config.duckdbGoldCopyPath);
}

/**
 * Whether a dbt command is to be followed by a new gold copy: it builds
 * models (`build`, `run`) on the DuckDB target.
 *
 * @param args dbt's arguments, e.g. `["build"]` or `["--debug", "run"]`.
 * @param config Settings: `DBT_TARGET`.
 * @returns True when the copy is to be published after the command succeeds.
 */
export function dbtUpdatesGold(args: string[], config: Config): boolean {
  const command = args.find((arg) => !arg.startsWith("-"));
  return config.dbtTarget === "duckdb" && command !== undefined &&
    BUILDING_COMMANDS.has(command);
}

/**
 * Opens the warehouse (waiting for its lock as the loader does), writes the
 * gold copy, closes the warehouse, and logs one line.
 *
 * @param config Settings: the warehouse and its copy.
 * @returns What the copy holds and cost.
 * @throws {Error} When the warehouse stays locked, has no gold yet, or the
 * copy cannot be written; the previous copy is then left as it was.
 */
export async function publishGoldCopy(config: Config): Promise<GoldCopy> {
  const path = configuredGoldCopy(config);
  const warehouse = await DuckDBWarehouse.open(config.duckdbPath, {
    goldCopy: path,
  });
  try {
    const copy = await writeGoldCopy(warehouse, path, {
      source: warehouse.location,
    });
    log.info("published the gold copy", goldCopyFields(copy));
    return copy;
  } finally {
    await warehouse.close();
  }
}

/**
 * A gold copy as log fields.
 *
 * @param copy What the copy holds and cost.
 * @returns `path`, `tables`, `rows`, `bytes` and `ms`.
 */
export function goldCopyFields(copy: GoldCopy): Record<string, unknown> {
  return {
    path: copy.path,
    tables: copy.tables.length,
    rows: copy.rows,
    bytes: copy.bytes,
    ms: copy.ms,
  };
}
