/**
 * Gold from the DuckDB gold copy (lib/warehouse/duckdb/gold_copy.ts): the
 * read-only file the pipeline writes after each dbt build and renames over
 * the previous one. The dashboard never opens the warehouse itself, so it
 * never holds the file a load or dbt writes.
 *
 * A new copy is a new file at the same path: its stat (inode, modification
 * time, size) is the version, a few microseconds to read. Each
 * {@linkcode DuckDBGoldSource.read} opens the path afresh, read-only, and
 * closes it after: it reads the newest copy, and a copy renamed over while
 * it reads stays whole for it (its open file outlives the rename).
 *
 * @module
 */
import { resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { Bind, Dialect, GoldSource, Query } from "./gold_source.ts";

/** DuckDB's spelling of what {@linkcode Dialect} varies. */
export const DUCKDB_DIALECT: Dialect = {
  name: "duckdb",
  epochMs: (column) => `cast(epoch_ms(${column}) as double)`,
  // The copy records when it was written.
  builtAt:
    "select cast(epoch_ms(published_at) as double) as built_ms from main.published",
};

/** Options for {@linkcode DuckDBGoldSource}. */
export interface DuckDBGoldSourceOptions {
  /**
   * How often to stat the copy while a page is open, in milliseconds.
   *
   * @default {250}
   */
  pollMs?: number;
}

/** The gold copy as the dashboard's source. */
export class DuckDBGoldSource implements GoldSource {
  readonly location: string;
  readonly dialect: Dialect = DUCKDB_DIALECT;
  readonly pollMs: number;

  /**
   * Reads the copy at `path`, which need not exist yet.
   *
   * @param path The gold copy (`DUCKDB_GOLD_COPY_PATH`, or `gold_copy.duckdb` beside the warehouse).
   * @param options How often to look for a new copy.
   */
  constructor(path: string, options: DuckDBGoldSourceOptions = {}) {
    const { pollMs = 250 } = options;
    this.location = resolve(path);
    this.pollMs = pollMs;
  }

  /**
   * The copy's identity: a new copy is a new file.
   *
   * @returns Inode, modification time and size, or `undefined` when there is no copy.
   * @throws {Error} When the path cannot be read for another reason than its absence.
   */
  async version(): Promise<string | undefined> {
    try {
      const stat = await Deno.stat(this.location);
      return `${stat.ino}-${stat.mtime?.getTime()}-${stat.size}`;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Opens the newest copy read-only, runs `work` on it and closes it.
   *
   * @param work Queries to run on the copy.
   * @returns What `work` returns, or `undefined` when there is no copy.
   * @throws {Error} When DuckDB cannot open the copy or a query fails.
   */
  async read<T>(work: (query: Query) => Promise<T>): Promise<T | undefined> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(this.location, {
        access_mode: "READ_ONLY",
      });
    } catch (error) {
      // Between the stat and the open the copy may not exist yet.
      if (await this.version() === undefined) return undefined;
      throw error;
    }
    const connection = await instance.connect();
    try {
      return await work(async (sql: string, binds: Bind[] = []) =>
        (await connection.runAndReadAll(sql, binds)).getRowObjectsJson()
      );
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }

  /** Nothing is held between reads. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
