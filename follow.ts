/**
 * `deno task follow`: the real-time service. It loads what lands in the lake
 * into the warehouse and runs dbt on a short cycle until SIGTERM or SIGINT,
 * which it takes between steps: the load transaction or dbt run under way
 * finishes, then it exits 0 (lib/app/follow.ts). A restart after a crash
 * continues where the load ledger says. It serves its metrics at `/metrics`
 * when `METRICS_PORT` is set. `--status` reads the status file
 * the service keeps and exits 1 unless it is running and making progress
 * (the compose healthcheck); it loads none of the pipeline's modules, so a
 * check every few seconds costs little.
 *
 * @module
 */
import { parseCommandLine } from "./lib/app/command_line.ts";
import { checkStatus } from "./lib/app/follow_status.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";

const USAGE = `Usage: deno task follow [--status]

Loads what lands in the lake and runs dbt on a short cycle until stopped
(SIGTERM or Ctrl-C: the step under way finishes first; a second one stops at once).

  --status    print the running service's status (FOLLOW_STATUS_PATH) and exit 1
              unless it is running and was updated within FOLLOW_STALL_MS`;

await runMain(async () => {
  const values = parseCommandLine("follow", Deno.args, {
    status: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  if (values.status) {
    const status = await checkStatus(
      config.followStatusPath,
      config.followStallMs,
    );
    console.log(JSON.stringify(status));
    return;
  }
  // Loaded only to run the service: the healthcheck above stays light.
  const { preflight } = await import("./lib/app/preflight.ts");
  const { runFollow } = await import("./lib/app/follow.ts");
  const { configuredMetricsEndpoint } = await import(
    "./lib/ops/metrics/endpoint.ts"
  );
  await using _metrics = configuredMetricsEndpoint(config);
  await preflight(config, { warehouse: true });
  await runFollow({ config, signal: shutdownSignal() });
});
