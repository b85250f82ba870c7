/**
 * `deno task transform [dbt args]`: runs `dbt build` (or the given dbt
 * command) in the project's virtualenv against the configured warehouse,
 * then, after a successful `build` or `run` on DuckDB, publishes the gold
 * copy that readers open instead of the warehouse (lib/app/gold_copy.ts).
 * Ctrl-C once lets the command finish; twice stops dbt at once.
 *
 * @module
 */
import { loadConfig } from "../lib/runtime/config.ts";
import { runDbt } from "../lib/transform/dbt.ts";
import { runMain, shutdownSignal } from "../lib/runtime/main.ts";
import { dbtUpdatesGold, publishGoldCopy } from "../lib/app/gold_copy.ts";

await runMain(async () => {
  const config = loadConfig();
  // A first Ctrl-C lets dbt's command finish; a second stops it at once.
  shutdownSignal();
  const args = Deno.args.length > 0 ? Deno.args : ["build"];
  const result = await runDbt(args, {
    duckdbPath: config.duckdbPath,
    target: config.dbtTarget,
    verbose: true,
  });
  if (result.success && dbtUpdatesGold(args, config)) {
    await publishGoldCopy(config);
  }
  return result.code;
});
