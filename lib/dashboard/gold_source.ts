/**
 * The dashboard's seam to gold: where it reads the gold layer and how it
 * learns that gold changed. Two implementations, chosen by `WAREHOUSE`: the
 * DuckDB gold copy (./duckdb_source.ts), a read-only file the pipeline
 * republishes after each build, and Snowflake (./snowflake_source.ts). What
 * the page shows is read through it by ./gold_queries.ts, in SQL both
 * warehouses run, with the few differences in {@linkcode Dialect}.
 *
 * @module
 */

/** A value bound to a `?` placeholder. */
export type Bind = string | number;

/** Runs one statement and returns its rows, keyed by lower-case column name. */
export type Query = (
  sql: string,
  binds?: Bind[],
) => Promise<Record<string, unknown>[]>;

/** What differs between the warehouses' SQL in the dashboard's queries. */
export interface Dialect {
  /** The warehouse's name, `duckdb` or `snowflake`. */
  readonly name: string;
  /**
   * An expression turning a UTC timestamp column (no time zone) into epoch
   * milliseconds, as a double.
   */
  epochMs(column: string): string;
  /**
   * A query of one row and column, `built_ms`: when the gold being read was
   * built, epoch milliseconds.
   */
  readonly builtAt: string;
}

/** Where gold is read from, and whether it changed. */
export interface GoldSource {
  /** Where gold is read, without credentials (a path, or `snowflake://account/database`). */
  readonly location: string;
  /** The SQL dialect of its queries. */
  readonly dialect: Dialect;
  /**
   * How often the dashboard asks {@linkcode GoldSource.version} while a page
   * is open, in milliseconds: a file's stat costs nothing, a warehouse query
   * does.
   */
  readonly pollMs: number;
  /**
   * A token that changes whenever gold changes, cheaply (no table read when
   * it can be helped).
   *
   * @returns The token, or `undefined` while there is no gold yet.
   * @throws {Error} When the source cannot be reached.
   */
  version(): Promise<string | undefined>;
  /**
   * Runs `work` on one view of gold: with DuckDB one opened copy, so every
   * query of `work` reads the same build.
   *
   * @param work Queries to run.
   * @returns What `work` returns, or `undefined` while there is no gold yet.
   * @throws {Error} When a query fails.
   */
  read<T>(work: (query: Query) => Promise<T>): Promise<T | undefined>;
  /** Releases what the source holds (a Snowflake session). */
  close(): Promise<void>;
}
