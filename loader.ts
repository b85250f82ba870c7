/**
 * `deno task load`: loads lake objects not yet in the ledger into the
 * warehouse (each kind's RAW table: `raw.source_stock_quotes`,
 * `raw.source_stock_trades`), one transaction per micro-batch of objects,
 * then releases the warehouse so dbt can open it. A one-shot job: re-running
 * it loads nothing twice. `--kind` loads one kind only; `--prefix`,
 * `--from`/`--to` and `--reload` make it a backfill (`deno task load --help`).
 *
 * @module
 */
import { LOAD_USAGE, parseLoadArgs } from "./lib/app/cli.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { laneOf, openLake, openWarehouse } from "./lib/app/wiring.ts";
import { checkSelection, loadNewObjects } from "./lib/load/loader.ts";
import { logger } from "./lib/runtime/log.ts";
import { preflight } from "./lib/app/preflight.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";

const log = logger("loader");

await runMain(async () => {
  const { selection, kinds, help } = parseLoadArgs(Deno.args);
  if (help) {
    console.log(LOAD_USAGE);
    return;
  }
  const config = loadConfig();
  // A backfill's prefix lies under one topic: it picks the kind.
  let lanes = kinds.map((kind) => laneOf(config, kind));
  if (selection.prefix !== undefined) {
    const under = lanes.filter(({ topic }) =>
      selection.prefix?.startsWith(`${topic}/`)
    );
    lanes = under.length > 0 ? under : lanes.slice(0, 1);
  }
  for (const { topic } of lanes) checkSelection(selection, topic);
  await preflight(config, { warehouse: true });
  const signal = shutdownSignal();
  const lake = openLake(config);
  const warehouse = await openWarehouse(config);
  try {
    for (const { kind, topic } of lanes) {
      if (signal.aborted) break;
      const totals = await loadNewObjects({
        lake,
        warehouse,
        topic,
        kind,
        filesPerLoad: config.loadMaxFiles,
        eventsPerLoad: config.loadMaxEvents,
        selection,
        signal,
        onProgress: (totals) => log.info("progress", { ...totals, kind }),
      });
      log.info("load finished", {
        ...totals,
        kind,
        warehouse: warehouse.location,
      });
    }
  } finally {
    await warehouse.close();
  }
});
