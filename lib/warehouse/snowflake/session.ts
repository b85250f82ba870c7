/**
 * What the Snowflake warehouse needs of a connection: one statement at a
 * time, with positional binds. The real session over the Node driver is
 * ./driver.ts; the tests record statements through their own.
 *
 * @module
 */

/** A statement's outcome. */
export interface StatementResult {
  /** Rows, keyed by column name as Snowflake returns it (upper case). */
  rows: Record<string, unknown>[];
  /** Snowflake's query id. */
  queryId: string;
}

/** What the warehouse needs of a Snowflake connection: one statement at a time. */
export interface SnowflakeSession {
  /** Where it is connected, without credentials, e.g. `snowflake://myorg-acct/STOCKS`. */
  readonly location: string;
  /** Runs one statement with positional binds (`?`). */
  execute(
    sql: string,
    binds?: (string | number)[],
  ): Promise<StatementResult>;
  /** Closes the connection. */
  close(): Promise<void>;
}
