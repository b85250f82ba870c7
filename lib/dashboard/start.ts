/**
 * Starts the dashboard on the configured warehouse: `deno task dashboard`
 * (dashboard.ts) and `deno task demo --continuous --dashboard` call
 * {@linkcode startDashboard}. With DuckDB it reads gold from the gold copy
 * only; with `WAREHOUSE=snowflake`, Snowflake's GOLD schema. Its pipeline
 * panel gathers `deno task status`'s facts (./pipeline_status.ts), which
 * read RAW briefly, unless told not to.
 *
 * @module
 */
import { configuredGoldCopy } from "../app/gold_copy.ts";
import type { Config } from "../runtime/config.ts";
import { DuckDBGoldSource } from "./duckdb_source.ts";
import type { GoldSource } from "./gold_source.ts";
import { readPipelinePanel } from "./pipeline.ts";
import { pipelineStatus } from "./pipeline_status.ts";
import { type DashboardServer, serveDashboard } from "./server.ts";
import { SnowflakeGoldSource } from "./snowflake_source.ts";

/** Options for {@linkcode startDashboard}. */
export interface StartDashboardOptions {
  /** Settings: `DASHBOARD_HOST`, `DASHBOARD_PORT`, the warehouse and its gold copy. */
  config: Config;
  /** Stops the dashboard. */
  signal: AbortSignal;
  /**
   * Whether the pipeline panel reads RAW from the warehouse; false inside
   * a process that writes the warehouse (`demo --dashboard`).
   *
   * @default {true}
   */
  readWarehouse?: boolean;
}

/**
 * Opens the configured gold source and serves the dashboard until `signal`.
 *
 * @param options Settings and the stopping signal.
 * @returns The running server; its `finished` settles once it has stopped
 * and released the source.
 * @throws {RangeError} When `DUCKDB_GOLD_COPY_PATH` cannot be the copy.
 * @throws {Deno.errors.AddrInUse} When `DASHBOARD_PORT` is taken.
 */
export async function startDashboard(
  options: StartDashboardOptions,
): Promise<DashboardServer> {
  const { config, signal, readWarehouse = true } = options;
  const source: GoldSource = config.warehouse === "snowflake"
    ? new SnowflakeGoldSource(config)
    : new DuckDBGoldSource(configuredGoldCopy(config));
  const status = pipelineStatus({ config, readWarehouse });
  const release = () => Promise.all([source.close(), status.close()]);
  try {
    const server = await serveDashboard({
      source,
      pipeline: (gold) => readPipelinePanel({ status: status.gather, gold }),
      hostname: config.dashboardHost,
      port: config.dashboardPort,
      signal,
    });
    return {
      url: server.url,
      finished: server.finished.finally(release).then(() => {}),
    };
  } catch (error) {
    await release();
    throw error;
  }
}
