/**
 * `deno task transform [dbt args]`: runs the frequent `dbt build`
 * (`FREQUENT_BUILD` in lib/transform/dbt.ts: every model, the data tests on
 * recently transformed rows; with the seeds, as a one-shot process:
 * `ONE_SHOT_BUILD`), or the given dbt command (`build` alone is the
 * daily build: every test over whole tables), in the project's virtualenv
 * against the configured warehouse,
 * then, after a successful `build` or `run` on DuckDB, publishes the gold
 * copy that readers open instead of the warehouse (lib/app/gold_copy.ts).
 * Ctrl-C once lets the command finish; twice stops dbt at once.
 *
 * @module
 */
import { loadConfig } from "../lib/runtime/config.ts";
import { ONE_SHOT_BUILD, runDbt } from "../lib/transform/dbt.ts";
import { runMain, shutdownSignal } from "../lib/runtime/main.ts";
import { dbtUpdatesGold, publishGoldCopy } from "../lib/app/gold_copy.ts";

await runMain(async () => {
  const config = loadConfig();
  // A first Ctrl-C lets dbt's command finish; a second stops it at once.
  shutdownSignal();
  const args = Deno.args.length > 0 ? Deno.args : [...ONE_SHOT_BUILD];
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
