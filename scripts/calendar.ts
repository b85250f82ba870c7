/**
 * `deno task calendar [--start YYYY-MM-DD] [--end YYYY-MM-DD]`: regenerates
 * the dbt seed of exchange sessions (dbt_stocks/seeds/trading_sessions.csv)
 * from the `exchange_calendars` library, in its own virtualenv
 * (`.venv-calendar`, created from the pinned `requirements-calendar.txt` on
 * first use). Run it when the pins change or the range must grow, and commit
 * the CSV: the pipeline reads only the seed.
 *
 * @module
 */
import { join } from "node:path";
import { ensureVenv } from "../lib/transform/venv.ts";
import { PROJECT_ROOT } from "../lib/runtime/project.ts";
import { runMain } from "../lib/runtime/main.ts";
import { runTool } from "../lib/runtime/tool.ts";

await runMain(async () => {
  const venv = join(PROJECT_ROOT, ".venv-calendar");
  await ensureVenv(venv, join(PROJECT_ROOT, "requirements-calendar.txt"));
  const output = await runTool(join(venv, "bin", "python"), [
    join(PROJECT_ROOT, "scripts", "trading_calendar.py"),
    ...Deno.args,
  ], {
    purpose: "generate the trading calendar seed",
    missing: `Cannot generate the trading calendar as ${venv} has no python`,
    failure: "scripts/trading_calendar.py failed",
  });
  console.log(output.trim());
});
