/**
 * `deno task reconcile [--kind K] [--json]`: for one kind's topic (quotes by
 * default), compares per partition the offsets in the stream, the events
 * landed in the lake, the rows in RAW and the events in silver (lib/ops/reconcile.ts), prints the table,
 * and exits 1 when an event was lost or duplicated.
 *
 * Run it once the pipeline has drained (consumer, loader and dbt build):
 * what is still on its way is reported as pending, not lost.
 *
 * @module
 */
import { parseCommandLine } from "../lib/app/cli.ts";
import { loadConfig } from "../lib/runtime/config.ts";
import {
  laneOf,
  openLake,
  openStream,
  openWarehouse,
} from "../lib/app/wiring.ts";
import { parseKind } from "../lib/contract/kinds.ts";
import { runMain } from "../lib/runtime/main.ts";
import { preflight } from "../lib/app/preflight.ts";
import { formatReconciliation, reconcile } from "../lib/ops/reconcile.ts";

const USAGE = `Usage: deno task reconcile [--kind quotes|trades] [--json]
Compares, per partition of the topic, the stream's offsets, the events landed
in the lake, the rows in RAW and the events in silver. Exits 1 when an event
was lost or duplicated; what is still on its way is reported as pending.

  --kind K  the kind whose topic is reconciled (default quotes)
  --json    print the report as JSON`;

await runMain(async () => {
  const values = parseCommandLine("reconcile", Deno.args, {
    kind: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  await preflight(config, { warehouse: true });
  const kind = parseKind(
    typeof values.kind === "string" && values.kind !== ""
      ? values.kind
      : "quotes",
  );
  const stream = openStream(config, kind);
  const lake = openLake(config);
  const warehouse = await openWarehouse(config);
  try {
    const report = await reconcile({
      kind,
      stream,
      groupId: laneOf(config, kind).groupId,
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
