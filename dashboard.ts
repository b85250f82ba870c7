/**
 * `deno task dashboard`: serves the dashboard, a live web page of the gold
 * layer and the pipeline (lib/dashboard/), on `DASHBOARD_HOST` and
 * `DASHBOARD_PORT` (127.0.0.1:8090 by default), until SIGTERM or Ctrl-C.
 * It reads the DuckDB gold copy, never the warehouse, or with
 * `WAREHOUSE=snowflake` the GOLD schema in Snowflake; it runs beside
 * `deno task follow` or `deno task demo --continuous` (whose `--dashboard`
 * starts it in the demo's own process).
 *
 * `--check` asks a running dashboard whether it answers (the compose
 * healthcheck) and exits 1 unless it does; it loads none of the dashboard's
 * modules.
 *
 * @module
 */
import { parseCommandLine } from "./lib/app/command_line.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";

const USAGE = `Usage: deno task dashboard [--check]

Serves the dashboard of the gold layer and the pipeline on DASHBOARD_HOST:DASHBOARD_PORT
(127.0.0.1:8090 by default) until stopped (SIGTERM or Ctrl-C).

  --check    ask the running dashboard whether it answers; exit 1 unless it does`;

/** How long `--check` waits for the answer, in milliseconds. */
const CHECK_TIMEOUT_MS = 5_000;

await runMain(async () => {
  const values = parseCommandLine("dashboard", Deno.args, {
    check: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  if (values.check) {
    // A server listening on every address answers on loopback.
    const host = ["0.0.0.0", "::"].includes(config.dashboardHost)
      ? "127.0.0.1"
      : config.dashboardHost;
    const url = `http://${
      host.includes(":") ? `[${host}]` : host
    }:${config.dashboardPort}/api/health`;
    const response = await fetch(url, {
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    }).catch((error) => {
      throw new Error(
        `Cannot report the dashboard healthy as ${url} does not answer: ${error.message}`,
      );
    });
    const body = await response.text();
    if (!response.ok) {
      throw new Error(
        `Cannot report the dashboard healthy as ${url} answered ${response.status}: ${body}`,
      );
    }
    console.log(body);
    return;
  }
  // Loaded only to serve: the healthcheck above stays light.
  const { startDashboard } = await import("./lib/dashboard/start.ts");
  const server = await startDashboard({ config, signal: shutdownSignal() });
  console.log(`Dashboard: ${server.url} (Ctrl-C stops it)`);
  await server.finished;
});
