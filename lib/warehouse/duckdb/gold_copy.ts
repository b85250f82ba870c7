/**
 * The gold copy: a separate, read-only DuckDB file holding the warehouse's
 * gold schema (`data/gold_copy.duckdb` beside `data/warehouse.duckdb` by
 * default), written anew after each dbt build, which readers (analysts,
 * dashboards) open instead of the warehouse.
 *
 * A DuckDB file takes one writing process, and a reader that has it open
 * keeps the writer out, so a reader of the warehouse itself stalls the
 * loader and dbt. {@linkcode writeGoldCopy} writes the copy to a temporary
 * file in the same directory (one `create table … as select` per table, in
 * one transaction, so the tables agree with each other), closes it, makes
 * it read-only and renames it over the previous copy. The rename is atomic:
 * a reader opening the path gets the old copy or the new one, never part of
 * one, and a reader that has the old copy open keeps reading it (on Linux
 * its open file outlives the rename), so neither side waits for the other.
 *
 * The copy holds the tables of the schemas it is given, and their views'
 * rows as tables, under their own names (`gold.gold_latest_kpi`,
 * `gold.gold_market_candles`), so a query runs unchanged on either file; and `main.published` (one row: when, from which
 * warehouse, which tables). DuckDB names an opened database after its file,
 * so the file may not be named after a schema it holds (in `gold.duckdb`,
 * `gold.gold_candles` would be ambiguous).
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";

/** The copy's file name when none is configured, beside the warehouse. */
export const GOLD_COPY_NAME = "gold_copy.duckdb";

/** The schemas copied unless told otherwise. */
export const GOLD_COPY_SCHEMAS: readonly string[] = ["gold"];

/** What {@linkcode writeGoldCopy} needs of an open warehouse. */
export interface SqlSession {
  /** Runs one statement and returns its rows. */
  query(sql: string): Promise<unknown[][]>;
}

/** Options for {@linkcode writeGoldCopy}. */
export interface GoldCopyOptions {
  /**
   * Schemas whose tables are copied.
   *
   * @default {GOLD_COPY_SCHEMAS}
   */
  schemas?: readonly string[];
  /**
   * The warehouse's path, recorded in `main.published`.
   *
   * @default {""}
   */
  source?: string;
}

/** What one copy holds and cost. */
export interface GoldCopy {
  /** The copy's path, absolute. */
  path: string;
  /** Tables and views copied, `schema.table`, each a table in the copy. */
  tables: string[];
  /** Rows copied, over all tables. */
  rows: number;
  /** The copy's size in bytes. */
  bytes: number;
  /** How long writing it took, in milliseconds. */
  ms: number;
}

/**
 * Where the gold copy goes: the configured path, or `gold_copy.duckdb` in
 * the warehouse's directory.
 *
 * @param warehousePath The warehouse file.
 * @param configured The configured path (`DUCKDB_GOLD_COPY_PATH`), if any.
 * @returns The copy's path, absolute.
 * @throws {RangeError} When the copy would be the warehouse itself, or a
 * file named after a schema it holds.
 */
export function goldCopyPath(
  warehousePath: string,
  configured?: string,
): string {
  const warehouse = resolve(warehousePath);
  const path = configured
    ? resolve(configured)
    : join(dirname(warehouse), GOLD_COPY_NAME);
  const rule = path === warehouse
    ? "must differ from the warehouse file (DUCKDB_PATH)"
    : clashingName(path, GOLD_COPY_SCHEMAS);
  if (rule !== undefined) {
    throw new RangeError(
      `Cannot publish the gold copy as 'DUCKDB_GOLD_COPY_PATH' ${rule}: current value is ${
        JSON.stringify(configured ?? path)
      }`,
    );
  }
  return path;
}

/** Why a file name would make the copy's tables ambiguous, if it would. */
function clashingName(
  path: string,
  schemas: readonly string[],
): string | undefined {
  const database = basename(path).replace(/\.[^.]*$/, "");
  return schemas.includes(database)
    ? `must not name a file after a schema it holds (${database}.<table> would be ambiguous to its readers)`
    : undefined;
}

/**
 * Copies the tables of `schemas`, and their views' rows, from the open
 * warehouse into a new DuckDB file and renames it over `path`.
 *
 * The session must be the warehouse's writer of the moment (the loader's or
 * the demo's own, between two dbt runs); it reads the tables in one
 * transaction. A failure leaves the previous copy in place and removes the
 * temporary file.
 *
 * @param session An open warehouse.
 * @param path The copy's path (see {@linkcode goldCopyPath}).
 * @param options Schemas to copy, and the warehouse's path to record.
 * @returns What the copy holds and cost.
 * @throws {RangeError} When the file would be named after a copied schema.
 * @throws {Error} When the warehouse has no table in `schemas` (dbt has not
 * built them yet), or when DuckDB or the file system fails.
 */
export async function writeGoldCopy(
  session: SqlSession,
  path: string,
  options: GoldCopyOptions = {},
): Promise<GoldCopy> {
  const { schemas = GOLD_COPY_SCHEMAS, source = "" } = options;
  const started = performance.now();
  const target = resolve(path);
  const clash = clashingName(target, schemas);
  if (clash !== undefined) {
    throw new RangeError(
      `Cannot publish the gold copy as its path ${clash}: current value is ${
        JSON.stringify(target)
      }`,
    );
  }
  const tables = (await session.query(tablesSql(schemas))) as [
    string,
    string,
  ][];
  if (tables.length === 0) {
    throw new Error(
      `Cannot publish the gold copy ${target} as the warehouse has no table in ${
        schemas.join(", ")
      }: run dbt build first`,
    );
  }
  const names = tables.map(([schema, table]) => `${schema}.${table}`);
  await Deno.mkdir(dirname(target), { recursive: true });
  const temp = join(
    dirname(target),
    `.${basename(target)}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  let attached = false;
  let rows = 0;
  try {
    await session.query(`attach ${literal(temp)} as gold_copy`);
    attached = true;
    await session.query("begin transaction");
    for (const schema of schemas) {
      await session.query(`create schema gold_copy.${identifier(schema)}`);
    }
    for (const [schema, table] of tables) {
      const name = `${identifier(schema)}.${identifier(table)}`;
      const [[count]] = await session.query(
        `create table gold_copy.${name} as select * from ${name}`,
      );
      rows += Number(count);
    }
    await session.query(
      `create table gold_copy.main.published as
       select now() as published_at, ${literal(source)} as warehouse,
         [${names.map(literal).join(", ")}]::varchar[] as tables`,
    );
    await session.query("commit");
    // Detaching checkpoints the copy into its one file and closes it.
    await session.query("detach gold_copy");
    attached = false;
    await Deno.chmod(temp, 0o444);
    // A log left beside the previous copy by a reader who opened it for
    // writing would otherwise be replayed into the new one.
    await Deno.remove(`${target}.wal`).catch(() => {});
    await Deno.rename(temp, target);
  } catch (error) {
    if (attached) {
      await session.query("rollback").catch(() => {});
      await session.query("detach gold_copy").catch(() => {});
    }
    await Deno.remove(temp).catch(() => {});
    await Deno.remove(`${temp}.wal`).catch(() => {});
    throw error;
  }
  return {
    path: target,
    tables: names,
    rows,
    bytes: (await Deno.stat(target)).size,
    ms: Math.round(performance.now() - started),
  };
}

/** Tables and views of the given schemas in the session's own database. */
function tablesSql(schemas: readonly string[]): string {
  const where = `where database_name = current_database()
  and schema_name in (${schemas.map(literal).join(", ")})`;
  return `
select schema_name, table_name from duckdb_tables() ${where}
union all
select schema_name, view_name from duckdb_views() ${where} and not internal
order by all`;
}

/** A SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A SQL identifier, quoted. */
function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
