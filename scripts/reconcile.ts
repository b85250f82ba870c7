/**
 * `deno task reconcile [--json]`: for the configured topic, compares per
 * partition the offsets in the stream, the events landed in the lake, the
 * rows in RAW and the quotes in silver (lib/ops/reconcile.ts), prints the table,
 * and exits 1 when an event was lost or duplicated.
 *
 * Run it once the pipeline has drained (consumer, loader and dbt build):
 * what is still on its way is reported as pending, not lost.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/runtime/config.ts";
import { openLake, openStream, openWarehouse } from "../lib/app/wiring.ts";
import { runMain } from "../lib/runtime/main.ts";
import { formatReconciliation, reconcile } from "../lib/ops/reconcile.ts";

await runMain(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    options: { json: { type: "boolean", default: false } },
  });
  const config = loadConfig();
  const stream = openStream(config);
  const lake = openLake(config);
  const warehouse = await openWarehouse(config);
  try {
    const report = await reconcile({
      stream,
      groupId: config.groupId,
      lake,
      warehouse,
    });
    console.log(
      values.json
        ? JSON.stringify(report, null, 2)
        : formatReconciliation(report),
    );
    return report.totals.lost > 0 || report.totals.duplicated > 0 ? 1 : 0;
  } finally {
    await warehouse.close();
  }
});
