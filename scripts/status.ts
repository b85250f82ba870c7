/**
 * `deno task status [--kind K] [--json] [--max-lag N] [--max-freshness S]`:
 * one screen that says whether the pipeline keeps up (lib/app/status.ts
 * gathers it, lib/ops/status.ts judges and renders it). Exit codes, for a
 * cron job or an Airflow sensor: 0 within the thresholds, 1 when a
 * threshold is passed (the reason is the last line), 2 when the status
 * cannot be gathered (Kafka or S3 unreachable, a bad setting).
 *
 * @module
 */
import { parseCommandLine, selectedKinds } from "../lib/app/command_line.ts";
import { gatherStatus, openStatusSources } from "../lib/app/status.ts";
import { formatStatus, judgeStatus } from "../lib/ops/status.ts";
import { loadConfig, SETTINGS } from "../lib/runtime/config.ts";
import { runMain } from "../lib/runtime/main.ts";

const USAGE =
  `Usage: deno task status [--kind quotes|trades] [--json] [--max-lag N] [--max-freshness S]
Prints, per kind and partition, the stream's end offset, the lake group's
committed offset, what is landed and what is in RAW, with the lag; the
freshness of RAW, silver and gold; the last dbt run; the dead letters by rule.

  --kind K           one kind only (default: every kind)
  --json             print the status and its verdict as JSON
  --max-lag N        most messages a kind may have in the stream and not in RAW
                     (default: STATUS_MAX_LAG_MESSAGES, 10000)
  --max-freshness S  oldest, in seconds, a kind's RAW, silver and gold may be
                     (default: STATUS_MAX_FRESHNESS_SECONDS, 300)

Exits 0 within the thresholds, 1 when one is passed (the last line says
which), 2 when the status cannot be gathered.`;

/** The exit code when the status cannot be gathered. */
const CANNOT_GATHER = 2;

await runMain(async () => {
  const values = parseCommandLine("status", Deno.args, {
    kind: { type: "string" },
    json: { type: "boolean" },
    "max-lag": { type: "string" },
    "max-freshness": { type: "string" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  const flag = <T>(name: string, setting: { parse(t: string, k: string): T }) =>
    typeof values[name] === "string"
      ? setting.parse(values[name] as string, `--${name}`)
      : undefined;
  const thresholds = {
    maxLagMessages: flag("max-lag", SETTINGS.statusMaxLagMessages) ??
      config.statusMaxLagMessages,
    maxFreshnessSeconds:
      flag("max-freshness", SETTINGS.statusMaxFreshnessSeconds) ??
        config.statusMaxFreshnessSeconds,
  };
  const sources = await openStatusSources(config, selectedKinds(values.kind));
  try {
    const status = await gatherStatus(sources);
    const verdict = judgeStatus(status, thresholds);
    console.log(
      values.json
        ? JSON.stringify({ ...status, verdict }, null, 2)
        : formatStatus(status, verdict),
    );
    return verdict.ok ? 0 : 1;
  } finally {
    await sources.close();
  }
}, { failureCode: CANNOT_GATHER });
