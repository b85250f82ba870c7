/**
 * `deno task copy-gold`: publishes the gold copy of the DuckDB warehouse,
 * the read-only file readers open instead of the warehouse
 * (lib/app/gold_copy.ts). `deno task transform` and the demo do it after
 * each build; the Airflow DAGs run it as the step after `dbt build`, whose
 * image has no Deno.
 *
 * @module
 */
import { loadConfig } from "../lib/runtime/config.ts";
import { runMain } from "../lib/runtime/main.ts";
import { publishGoldCopy } from "../lib/app/gold_copy.ts";
import { parseCommandLine } from "../lib/app/cli.ts";

const USAGE = `Usage: deno task copy-gold
Publishes the gold copy of the DuckDB warehouse (DUCKDB_GOLD_COPY_PATH), the
read-only file readers open while the pipeline writes the warehouse.`;

await runMain(async () => {
  if (parseCommandLine("copy-gold", Deno.args, {}).help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  if (config.warehouse !== "duckdb") {
    throw new RangeError(
      `Cannot publish the gold copy as it copies the DuckDB warehouse: WAREHOUSE is ${config.warehouse}`,
    );
  }
  await publishGoldCopy(config);
});
