/**
 * `deno task load`: loads lake objects not yet in the ledger into the
 * warehouse (`raw.source_stock_quotes`), one transaction per micro-batch of
 * objects, then releases the warehouse so dbt can open it. A one-shot job:
 * re-running it loads nothing twice. `--prefix`, `--from`/`--to` and
 * `--reload` make it a backfill (`deno task load --help`).
 *
 * @module
 */
import { LOAD_USAGE, parseLoadArgs } from "./lib/app/cli.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { openLake, openWarehouse } from "./lib/app/wiring.ts";
import { checkSelection, loadNewObjects } from "./lib/load/loader.ts";
import { logger } from "./lib/runtime/log.ts";
import { preflight } from "./lib/app/preflight.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";

const log = logger("loader");

await runMain(async () => {
  const { selection, help } = parseLoadArgs(Deno.args);
  if (help) {
    console.log(LOAD_USAGE);
    return;
  }
  const config = loadConfig();
  checkSelection(selection, config.topic);
  await preflight(config, { warehouse: true });
  const signal = shutdownSignal();
  const lake = openLake(config);
  const warehouse = await openWarehouse(config);
  try {
    const totals = await loadNewObjects({
      lake,
      warehouse,
      topic: config.topic,
      filesPerLoad: config.loadMaxFiles,
      eventsPerLoad: config.loadMaxEvents,
      selection,
      signal,
      onProgress: (totals) => log.info("progress", { ...totals }),
    });
    log.info("load finished", { ...totals, warehouse: warehouse.location });
  } finally {
    await warehouse.close();
  }
});
