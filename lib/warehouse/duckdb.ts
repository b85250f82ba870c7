/**
 * The embedded warehouse: a DuckDB file through `@duckdb/node-api`.
 *
 * A DuckDB file takes one writing process at a time, so the loader holds it
 * only while loading and {@linkcode DuckDBWarehouse.close} releases it before
 * dbt opens it; opening waits (with backoff) while another process holds it.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBValue,
} from "@duckdb/node-api";
import { logger } from "../log.ts";
import { backoffDelay, sleep } from "../retry.ts";
import { checkObject, type LoadFile } from "../landed.ts";
import { mapLimit } from "../map_limit.ts";
import {
  type Inventory,
  offsetsByPartition,
  type SilverInventory,
} from "../reconcile.ts";
import {
  CoordinateClashError,
  type LoadBatch,
  type LoadResult,
  type Warehouse,
} from "../warehouse.ts";

/** Options for {@linkcode DuckDBWarehouse.open}. */
export interface DuckDBWarehouseOptions {
  /**
   * How long to wait for another process (dbt, a reader) to release the file, in milliseconds.
   *
   * @default {60000}
   */
  lockWaitMs?: number;
}

const log = logger("duckdb");

/** Tables of the RAW schema, created on first use. */
const BOOTSTRAP = `
create schema if not exists raw;
create table if not exists raw.source_stock_quotes (
  v json not null,
  stream_id varchar not null,
  stream_topic varchar not null,
  stream_partition integer not null,
  stream_offset bigint not null,
  stream_timestamp timestamptz not null,
  file_name varchar not null,
  loaded_at timestamptz not null,
  primary key (stream_id, stream_topic, stream_partition, stream_offset)
);
create table if not exists raw.load_ledger (
  file_name varchar primary key,
  file_size bigint not null,
  rows_in_file integer not null,
  rows_inserted integer not null,
  rows_duplicate integer not null,
  rows_rejected integer not null,
  loaded_at timestamptz not null
);
create table if not exists raw.rejected_stock_quotes (
  file_name varchar not null,
  line_number integer not null,
  line varchar not null,
  reason_field varchar not null,
  reason_value varchar not null,
  reason_rule varchar not null,
  rejected_at timestamptz not null,
  primary key (file_name, line_number)
);
`;

const STAGING = `
create or replace temp table staging_rows (
  line varchar, stream_id varchar, stream_topic varchar, stream_partition integer, stream_offset bigint,
  timestamp_ms bigint, file_name varchar
);
create or replace temp table staging_files (
  file_index integer, file_name varchar, file_size bigint, rows_in_file integer, native boolean
);
create or replace temp table staging_rejects (
  file_name varchar, line_number integer, line varchar,
  reason_field varchar, reason_value varchar, reason_rule varchar
);
create or replace temp table staging_lines (
  line varchar, file_index integer,
  c struct(id varchar, topic varchar, partition integer, "offset" bigint, timestamp bigint)
);
`;

const DROP_STAGING =
  "drop view if exists staged_rows; drop table staging_lines; drop table staging_rows; drop table staging_files; drop table staging_rejects;";

/**
 * Every line of the objects saved in `dir` as `<file index>.ndjson.gz`, as
 * DuckDB reads them itself: one column with no delimiter, quote or escape,
 * so a line comes whole; empty lines are skipped, as lib/lake.ts does.
 */
function stageLinesSql(dir: string): string {
  const glob = join(dir, "*.ndjson.gz").replaceAll("'", "''");
  return `
insert into staging_lines
select
  line,
  cast(regexp_extract(filename, '([0-9]+)[.]ndjson[.]gz$', 1) as integer) as file_index,
  try(json_transform(line, '{"_stream": {"id": "VARCHAR", "topic": "VARCHAR", "partition": "INTEGER",
    "offset": "BIGINT", "timestamp": "BIGINT"}}'))._stream as c
from read_csv('${glob}', columns = {'line': 'varchar'}, delim = '\\x01', quote = '', escape = '',
  header = false, compression = 'gzip', filename = true, auto_detect = false)
where line is not null`;
}

/** Per object: the lines DuckDB read, and the sums of their lengths, partitions and offsets. */
const NATIVE_DIGESTS = `
select file_index, count(*)::integer, sum(length(line))::varchar, sum(c.partition)::varchar,
  sum(c."offset")::varchar
from staging_lines group by file_index`;

/**
 * Every row to load: those of the objects marked `native` (every line passed
 * the event contract in lib/landed.ts, and DuckDB read the same lines),
 * straight from DuckDB's own read, and the checked rows of the others.
 */
const STAGED = `
create or replace temp view staged_rows as
select line, c.id as stream_id, c.topic as stream_topic, c.partition as stream_partition,
  c."offset" as stream_offset, c.timestamp as timestamp_ms, f.file_name
from staging_lines
join staging_files as f using (file_index)
where f.native
union all
select * from staging_rows`;

/** A coordinate as a message names it. */
const COORDINATE =
  "stream_id || ' ' || stream_topic || ' partition ' || stream_partition || ' offset ' || stream_offset";

/**
 * Coordinates the batch holds more than once: how many, and how many of
 * those with different content (a clash), with an example.
 */
const REPEATS = `
select count(*), count(*) filter (where differ), min(coordinate) filter (where differ)
from (
  select min(line) <> max(line) as differ, any_value(${COORDINATE}) as coordinate
  from staged_rows
  group by stream_id, stream_topic, stream_partition, stream_offset
  having count(*) > 1
)`;

/**
 * Opens the load's transaction and matches the staged rows with RAW in one
 * pass: `fresh` holds each staged row once (first file wins, only when
 * the batch repeats a coordinate, as that costs a sort), whether RAW holds
 * its coordinates already, and whether with other content (a clash).
 */
function matchSql(repeats: boolean): string {
  const staged = repeats
    ? `(select * from staged_rows
        qualify row_number() over (
          partition by stream_id, stream_topic, stream_partition, stream_offset order by file_name
        ) = 1)`
    : "staged_rows";
  return `
begin transaction;
create or replace temp table fresh as
  select staged.*, loaded.stream_id is not null as loaded_before,
    coalesce(loaded.v::varchar <> staged.line, false) as clash
  from ${staged} as staged
  left join raw.source_stock_quotes as loaded
    using (stream_id, stream_topic, stream_partition, stream_offset);
`;
}

/** Staged rows that clash with RAW: how many, and an example. */
const CLASHES = `select count(*), min(${COORDINATE}) from fresh where clash`;

/** Inserts new coordinates, ledger and rejects, and commits; literal SQL, no data in it. */
const LOAD = `
insert into raw.source_stock_quotes
  select line::json, stream_id, stream_topic, stream_partition, stream_offset,
         make_timestamptz(timestamp_ms * 1000), file_name, now()
  from fresh
  where not loaded_before;
-- a reloaded object keeps the record of its first load
insert or ignore into raw.load_ledger
  select f.file_name, f.file_size, f.rows_in_file,
         coalesce(i.inserted, 0), f.rows_in_file - coalesce(i.inserted, 0),
         coalesce(r.rejected, 0), now()
  from staging_files as f
  left join (
    select file_name, count(*) as inserted from fresh where not loaded_before group by file_name
  ) as i using (file_name)
  left join (select file_name, count(*) as rejected from staging_rejects group by file_name) as r
    using (file_name);
insert or ignore into raw.rejected_stock_quotes
  select file_name, line_number, line, reason_field, reason_value, reason_rule, now()
  from staging_rejects;
commit;
`;

/** RAW's offsets of one log's topic (params: stream id, topic). */
const INVENTORY_RAW = `
select stream_partition, stream_offset from raw.source_stock_quotes
where stream_id = $1 and stream_topic = $2`;

/** Offsets the loader refused, where the refused line names them. */
const INVENTORY_REJECTED = `
select partition, "offset" from (
  select
    try(json_extract_string(line, '$._stream.id')) as stream_id,
    try(json_extract_string(line, '$._stream.topic')) as stream_topic,
    try_cast(try(json_extract_string(line, '$._stream.partition')) as integer) as partition,
    try_cast(try(json_extract_string(line, '$._stream.offset')) as bigint) as "offset"
  from raw.rejected_stock_quotes
)
where stream_id = $1 and stream_topic = $2 and partition is not null and "offset" is not null`;

/** Whether dbt has built bronze and silver (3 relations). */
const SILVER_BUILT = `
select count(*) from information_schema.tables
where (table_schema = 'bronze' and table_name = 'bronze_stg_stock_quotes')
   or (table_schema = 'silver' and table_name in ('silver_clean_stock_quotes', 'silver_quarantined_stock_quotes'))`;

/**
 * Silver's side of one log: its winning rows, its quarantined rows, its
 * bronze rows whose quote is in neither (loaded before silver's last build:
 * later ones are pending), and silver's duplicate quotes.
 */
const INVENTORY_SILVER = `
with built as (
  select max(loaded_at) as until from (
    select loaded_at from silver.silver_clean_stock_quotes
    union all
    select loaded_at from silver.silver_quarantined_stock_quotes
  )
)
select
  (select count(*) from silver.silver_clean_stock_quotes
    where stream_id = $1 and stream_topic = $2),
  (select count(*) from silver.silver_quarantined_stock_quotes
    where stream_id = $1 and stream_topic = $2),
  (select count(*) from bronze.bronze_stg_stock_quotes as b, built
    where b.stream_id = $1 and b.stream_topic = $2 and b.loaded_at <= built.until
      and not exists (
        select 1 from silver.silver_clean_stock_quotes as s
        where s.symbol = b.symbol and s.quote_ts = b.quote_ts
      )
      and not exists (
        select 1 from silver.silver_quarantined_stock_quotes as q
        where q.stream_id = b.stream_id and q.stream_topic = b.stream_topic
          and q.stream_partition = b.stream_partition and q.stream_offset = b.stream_offset
      )),
  (select count(*) - count(distinct (symbol, quote_ts)) from silver.silver_clean_stock_quotes)`;

/** The DuckDB warehouse. */
export class DuckDBWarehouse implements Warehouse {
  /** The database file, absolute. */
  readonly location: string;
  #instance: DuckDBInstance;
  #connection: DuckDBConnection;

  private constructor(
    location: string,
    instance: DuckDBInstance,
    connection: DuckDBConnection,
  ) {
    this.location = location;
    this.#instance = instance;
    this.#connection = connection;
  }

  /**
   * Opens (creating if needed) the database file and its RAW tables.
   *
   * @param path The database file.
   * @param options How long to wait for the file's lock.
   * @returns The warehouse.
   * @throws {Error} When another process still holds the file after `lockWaitMs`.
   */
  static async open(
    path: string,
    options: DuckDBWarehouseOptions = {},
  ): Promise<DuckDBWarehouse> {
    const { lockWaitMs = 60_000 } = options;
    const location = resolve(path);
    await Deno.mkdir(dirname(location), { recursive: true });
    const deadline = Date.now() + lockWaitMs;
    for (let attempt = 0;; attempt++) {
      try {
        const instance = await DuckDBInstance.create(location);
        const connection = await instance.connect();
        await connection.run(BOOTSTRAP);
        return new DuckDBWarehouse(location, instance, connection);
      } catch (error) {
        const message = (error as Error).message ?? String(error);
        if (!/lock/i.test(message)) throw error;
        if (Date.now() >= deadline) {
          throw new Error(
            `Cannot open the DuckDB warehouse ${location} as another process (dbt, or another loader) has held it for ${lockWaitMs} ms`,
            { cause: error },
          );
        }
        const delay = Math.min(
          backoffDelay(attempt, { baseMs: 100, maxMs: 2_000 }),
          deadline - Date.now(),
        );
        log.info("waiting for the DuckDB file's lock", {
          path: location,
          retry_in_ms: delay,
        });
        await sleep(Math.max(delay, 0));
      }
    }
  }

  /** Keys of the objects in the load ledger. */
  async loadedKeys(): Promise<Set<string>> {
    const reader = await this.#connection.runAndReadAll(
      "select file_name from raw.load_ledger",
    );
    return new Set(reader.getRows().map((row) => row[0] as string));
  }

  /**
   * Reads the objects and checks each line (lib/landed.ts), then loads them in
   * one transaction; rows already loaded (same coordinates) are skipped.
   *
   * Each object is fetched once into a scratch directory. While every line
   * is checked here with the event contract, DuckDB reads the same files
   * itself; an object whose lines all pass, and whose native read has the
   * same lines (count, and sums of lengths and coordinates), is staged from
   * that read. An object with a refused line, or one DuckDB cannot read, is
   * staged from the checked rows instead.
   */
  async load({ lake, objects }: LoadBatch): Promise<LoadResult> {
    const connection = this.#connection;
    const dir = await Deno.makeTempDir({ prefix: "stocks-load-" });
    try {
      const bodies = await mapLimit(objects, 8, async (object, index) => {
        const body = await lake.get(object.key);
        await Deno.writeFile(join(dir, `${index}.ndjson.gz`), body);
        return body;
      });
      await connection.run(STAGING);
      const nativeRead = connection.run(stageLinesSql(dir)).then(
        () => true,
        (error) => {
          log.debug("DuckDB could not read the objects; staging checked rows", {
            error: (error as Error).message,
          });
          return false;
        },
      );
      // A clean object's rows are dropped once digested: if DuckDB read it
      // differently, it is checked again from its body.
      const checked = await mapLimit(
        objects,
        8,
        async (object, index) =>
          digested(await checkObject(object, bodies[index])),
      );
      const native = await nativeRead
        ? await nativelyRead(connection, checked)
        : new Set<number>();
      log.debug("staged", {
        native_objects: native.size,
        checked_objects: objects.length - native.size,
      });
      for (const [index, file] of checked.entries()) {
        if (!native.has(index) && file.rows === undefined) {
          file.rows = (await checkObject(objects[index], bodies[index])).rows;
        }
      }
      return await this.#stage(checked, native);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  async #stage(
    files: CheckedObject[],
    native: Set<number>,
  ): Promise<LoadResult> {
    const connection = this.#connection;
    await append(connection, "staging_files", (rows) => {
      for (const [index, file] of files.entries()) {
        rows.appendInteger(index);
        rows.appendVarchar(file.key);
        rows.appendBigInt(BigInt(file.size));
        rows.appendInteger(file.rowCount + file.rejected.length);
        rows.appendBoolean(native.has(index));
        rows.endRow();
      }
    });
    await append(connection, "staging_rows", (rows) => {
      for (const [index, file] of files.entries()) {
        if (native.has(index)) continue;
        for (const row of file.rows ?? []) {
          rows.appendVarchar(row.line);
          rows.appendVarchar(row.streamId);
          rows.appendVarchar(row.topic);
          rows.appendInteger(row.partition);
          rows.appendBigInt(BigInt(row.offset));
          rows.appendBigInt(BigInt(row.timestamp));
          rows.appendVarchar(file.key);
          rows.endRow();
        }
      }
    });
    await append(connection, "staging_rejects", (rows) => {
      for (const file of files) {
        for (const rejected of file.rejected) {
          rows.appendVarchar(file.key);
          rows.appendInteger(rejected.lineNumber);
          rows.appendVarchar(rejected.line);
          rows.appendVarchar(rejected.reason.field);
          rows.appendVarchar(rejected.reason.value);
          rows.appendVarchar(rejected.reason.rule);
          rows.endRow();
        }
      }
    });
    await connection.run(STAGED);
    const [[repeated, repeatClashes, repeatExample]] =
      (await connection.runAndReadAll(REPEATS)).getRows();
    if (Number(repeatClashes) > 0) {
      await connection.run(DROP_STAGING);
      throw new CoordinateClashError(
        Number(repeatClashes),
        String(repeatExample),
      );
    }
    let inserted: number;
    try {
      await connection.run(matchSql(Number(repeated) > 0));
      const [[clashes, example]] = (await connection.runAndReadAll(CLASHES))
        .getRows();
      if (Number(clashes) > 0) {
        throw new CoordinateClashError(Number(clashes), String(example));
      }
      const [[count]] = (await connection.runAndReadAll(
        "select count(*)::integer from fresh where not loaded_before",
      )).getRows();
      inserted = count as number;
      await connection.run(LOAD);
    } catch (error) {
      await connection.run("rollback").catch(() => {});
      await connection.run("drop table if exists fresh; " + DROP_STAGING)
        .catch(() => {});
      throw error;
    }
    const rows = files.reduce((n, f) => n + f.rowCount, 0);
    const rejected = files.reduce((n, f) => n + f.rejected.length, 0);
    await connection.run("drop table fresh; " + DROP_STAGING);
    return {
      files: files.length,
      rows,
      inserted,
      duplicates: rows - inserted,
      rejected,
    };
  }

  /** What RAW and silver hold of one log's topic (silver null until dbt built it). */
  async inventory(streamId: string, topic: string): Promise<Inventory> {
    const rows = async (sql: string) =>
      (await this.#connection.runAndReadAll(sql, [streamId, topic])).getRows();
    const raw = offsetsByPartition(
      (await rows(INVENTORY_RAW)) as [unknown, unknown][],
    );
    const rejected = offsetsByPartition(
      (await rows(INVENTORY_REJECTED)) as [unknown, unknown][],
    );
    const [[built]] = (await this.#connection.runAndReadAll(SILVER_BUILT))
      .getRows();
    let silver: SilverInventory | null = null;
    if (Number(built) === 3) {
      const [[rowsFromLog, quarantined, lost, duplicated]] = await rows(
        INVENTORY_SILVER,
      );
      silver = {
        rows: Number(rowsFromLog),
        quarantined: Number(quarantined),
        lost: Number(lost),
        duplicated: Number(duplicated),
      };
    }
    return { raw, rejected, silver };
  }

  /**
   * Runs one read-only query on the open file (for the continuous mode's
   * freshness measures; not part of the Warehouse seam).
   *
   * @param sql The query, with `$1`… parameters.
   * @param params Their values.
   * @returns The rows.
   */
  async query(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return (await this.#connection.runAndReadAll(
      sql,
      params as DuckDBValue[],
    )).getRows();
  }

  /** Closes the connection and releases the file. */
  close(): Promise<void> {
    this.#connection.closeSync();
    this.#instance.closeSync();
    return Promise.resolve();
  }
}

async function append(
  connection: DuckDBConnection,
  table: string,
  fill: (appender: DuckDBAppender) => void,
): Promise<void> {
  const appender = await connection.createAppender(table, "main", "temp");
  try {
    fill(appender);
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/** A checked object: its counts and digest, and its rows until known to be unneeded. */
interface CheckedObject {
  key: string;
  size: number;
  rowCount: number;
  rejected: LoadFile["rejected"];
  /** Lines, and sums of lengths, partitions and offsets of a clean object; else null. */
  digest: string | null;
  rows: LoadFile["rows"] | undefined;
}

/** Keeps a clean object's digest instead of its rows. */
function digested(file: LoadFile): CheckedObject {
  const clean = file.rejected.length === 0 && file.rows.length > 0;
  let length = 0;
  let partitions = 0;
  let offsets = 0n;
  if (clean) {
    for (const row of file.rows) {
      length += row.line.length;
      partitions += row.partition;
      offsets += BigInt(row.offset);
    }
  }
  return {
    key: file.key,
    size: file.size,
    rowCount: file.rows.length,
    rejected: file.rejected,
    digest: clean
      ? [file.rows.length, length, partitions, offsets].join("/")
      : null,
    rows: clean ? undefined : file.rows,
  };
}

/**
 * The objects DuckDB read line for line as checked: every line valid, and
 * the same count and sums of lengths, partitions and offsets. (A length
 * counted differently, such as a character outside the BMP, only sends the
 * object to the checked rows.)
 */
async function nativelyRead(
  connection: DuckDBConnection,
  files: CheckedObject[],
): Promise<Set<number>> {
  const digests = new Map<number, string>();
  const reader = await connection.runAndReadAll(NATIVE_DIGESTS);
  for (const [index, ...sums] of reader.getRows()) {
    digests.set(Number(index), sums.join("/"));
  }
  const native = new Set<number>();
  for (const [index, file] of files.entries()) {
    if (file.digest !== null && digests.get(index) === file.digest) {
      native.add(index);
    }
  }
  return native;
}
