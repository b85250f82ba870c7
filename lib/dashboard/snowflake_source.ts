/**
 * Gold from Snowflake (`WAREHOUSE=snowflake`): the GOLD schema dbt builds
 * there, read through one session of the Snowflake warehouse code
 * (lib/warehouse/snowflake/driver.ts), opened on first use and opened
 * again after a failure.
 *
 * Snowflake has no gold copy: gold changes when dbt writes new candles, so
 * the version is the newest `transformed_at` of the quote and trade candles
 * (a column minimum or maximum Snowflake answers from its metadata), asked
 * every few seconds while a page is open. The session logs in with the
 * loader's settings (`SNOWFLAKE_USER`, `SNOWFLAKE_LOADER_ROLE`): that role
 * needs `USAGE` on GOLD and `SELECT` on its tables and views
 * (docs/dashboard.md).
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import type { SnowflakeSession } from "../warehouse/snowflake/session.ts";
import type { Bind, Dialect, GoldSource, Query } from "./gold_source.ts";

/** Snowflake's spelling of what {@linkcode Dialect} varies. */
export const SNOWFLAKE_DIALECT: Dialect = {
  name: "snowflake",
  epochMs: (column) =>
    `cast(date_part(epoch_millisecond, ${column}) as double)`,
  // No copy: gold's newest candle write.
  builtAt:
    "select cast(date_part(epoch_millisecond, max(transformed_at)) as double) as built_ms from gold.gold_candles",
};

/** Whether dbt has built the gold model the page starts from. */
const GOLD_BUILT = `select count(*) as n from information_schema.tables
where table_schema = 'GOLD' and table_name = 'GOLD_LATEST_KPI'`;

/** The newest write of gold's incremental candles. */
const NEWEST_TRANSFORM = `select greatest(
  coalesce((select max(transformed_at) from gold.gold_candles), '1970-01-01'::timestamp),
  coalesce((select max(transformed_at) from gold.gold_trade_candles), '1970-01-01'::timestamp)
)::varchar as newest`;

/** The Snowflake driver's module (it imports `npm:snowflake-sdk`). */
const SNOWFLAKE_DRIVER = "../warehouse/snowflake/driver.ts";
type DriverModule = typeof import("../warehouse/snowflake/driver.ts");

/** Options for {@linkcode SnowflakeGoldSource}. */
export interface SnowflakeGoldSourceOptions {
  /**
   * How often to ask for gold's newest write while a page is open, in
   * milliseconds.
   *
   * @default {5000}
   */
  pollMs?: number;
  /**
   * Opens a session; tests give their own.
   *
   * @default {connectSnowflake from lib/warehouse/snowflake/driver.ts}
   */
  connect?: () => Promise<SnowflakeSession>;
}

/** Snowflake's GOLD schema as the dashboard's source. */
export class SnowflakeGoldSource implements GoldSource {
  readonly location: string;
  readonly dialect: Dialect = SNOWFLAKE_DIALECT;
  readonly pollMs: number;
  readonly #connect: () => Promise<SnowflakeSession>;
  #session: Promise<SnowflakeSession> | undefined;

  /**
   * Reads gold from the configured Snowflake account; connects on first use.
   *
   * @param config Settings: `SNOWFLAKE_*`.
   * @param options Poll interval, and the session for tests.
   */
  constructor(config: Config, options: SnowflakeGoldSourceOptions = {}) {
    const {
      pollMs = 5000,
      connect = async () => {
        // A specifier Deno cannot follow ahead of time: the driver's npm
        // packages are installed on first use, never for the DuckDB default.
        const { connectSnowflake } = await import(
          SNOWFLAKE_DRIVER
        ) as DriverModule;
        return await connectSnowflake(config);
      },
    } = options;
    this.location = `snowflake://${config.snowflakeAccount ?? ""}/${
      config.snowflakeDatabase ?? ""
    }`;
    this.pollMs = pollMs;
    this.#connect = connect;
  }

  /**
   * The newest `transformed_at` of gold's quote and trade candles.
   *
   * @returns It as text, or `undefined` while GOLD_LATEST_KPI is not built.
   * @throws {Error} When Snowflake cannot be reached or refuses the query.
   */
  async version(): Promise<string | undefined> {
    return await this.#run(async (query) => {
      if (!await built(query)) return undefined;
      const [row] = await query(NEWEST_TRANSFORM);
      return String(row?.newest ?? "");
    });
  }

  /**
   * Runs `work` on the session.
   *
   * @param work Queries to run.
   * @returns What `work` returns, or `undefined` while GOLD_LATEST_KPI is not built.
   * @throws {Error} When Snowflake cannot be reached or refuses a query.
   */
  async read<T>(work: (query: Query) => Promise<T>): Promise<T | undefined> {
    return await this.#run(async (query) =>
      await built(query) ? await work(query) : undefined
    );
  }

  /** Closes the session, if one is open. */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session) await (await session.catch(() => undefined))?.close();
  }

  /** Runs `work` on the session, which a failure closes (the next call connects again). */
  async #run<T>(work: (query: Query) => Promise<T>): Promise<T> {
    this.#session ??= this.#connect();
    const opened = this.#session;
    try {
      const session = await opened;
      return await work(async (sql: string, binds: Bind[] = []) => {
        const { rows } = await session.execute(sql, binds);
        return rows.map(lowerCaseKeys);
      });
    } catch (error) {
      if (this.#session === opened) await this.close();
      throw error;
    }
  }
}

async function built(query: Query): Promise<boolean> {
  const [row] = await query(GOLD_BUILT);
  return Number(row?.n) === 1;
}

/** Snowflake names unquoted columns in upper case; the queries use lower case. */
function lowerCaseKeys(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key.toLowerCase(), value]),
  );
}
