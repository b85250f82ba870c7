/**
 * When and where the entry points publish the gold copy
 * (lib/warehouse/duckdb/gold_copy.ts): after a dbt command that builds
 * models on the DuckDB target, to `DUCKDB_GOLD_COPY_PATH`, or
 * `gold_copy.duckdb` beside the warehouse. `deno task transform`,
 * `deno task copy-gold` (the Airflow DAGs' step after `dbt build`) and the
 * demo call {@linkcode publishGoldCopy}; the real-time cycle (./cycle.ts) of
 * `deno task follow` and `demo --continuous` writes the copy through the
 * warehouse it already has open ({@linkcode goldCopyObserver}).
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
import type { CycleObserver } from "./cycle.ts";

const log = logger("gold-copy");

/**
 * Gold copies of the real-time cycle are at least this many times the last
 * copy's duration apart, so copying takes at most about a tenth of the
 * cycle's time.
 */
const GOLD_COPY_COST_FACTOR = 10;

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

/**
 * The gold copy in the real-time cycle: after a dbt run, the next load step
 * first writes the copy through the warehouse it has open, at most every
 * `DUCKDB_GOLD_COPY_EVERY_MS` and at least ten times the last copy's own
 * duration apart (gold, and with it the copy's cost, grows with the
 * history); after the last cycle, a copy of what the last run built.
 *
 * @param config Settings: the copy's path and `DUCKDB_GOLD_COPY_EVERY_MS`.
 * @param onCopy Called with each copy written (the demo measures them).
 * @returns The observer to give the cycle.
 */
export function goldCopyObserver(
  config: Config,
  onCopy: (copy: GoldCopy) => void = () => {},
): CycleObserver<DuckDBWarehouse> {
  const path = configuredGoldCopy(config);
  let due = false;
  let copiedAt = -Infinity;
  let lastMs = 0;
  const copy = async (warehouse: DuckDBWarehouse, always: boolean) => {
    const spacing = Math.max(
      config.duckdbGoldCopyEveryMs,
      GOLD_COPY_COST_FACTOR * lastMs,
    );
    if (!due || (!always && performance.now() - copiedAt < spacing)) return;
    const written = await writeGoldCopy(warehouse, path, {
      source: warehouse.location,
    });
    copiedAt = performance.now();
    lastMs = written.ms;
    due = false;
    onCopy(written);
    log.debug("published the gold copy", goldCopyFields(written));
  };
  return {
    beforeLoad: (warehouse) => copy(warehouse, false),
    afterTransform() {
      due = true;
    },
    atEnd: (warehouse) => copy(warehouse, true),
  };
}
