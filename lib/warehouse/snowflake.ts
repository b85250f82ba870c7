/**
 * The production warehouse: Snowflake, loaded with `COPY INTO` from a stage.
 *
 * A load copies its objects from a stage into the transient table
 * `RAW.STAGED_STOCK_QUOTES`, then, in the same transaction, inserts into
 * `RAW.SOURCE_STOCK_QUOTES` the rows whose stream coordinates are new,
 * records each object in `RAW.LOAD_LEDGER` and clears what it staged. So a
 * load never duplicates a row, and it is idempotent twice over: the loader
 * passes only objects the ledger does not hold, and COPY's own load history
 * (kept on the staging table, which is only ever deleted from, never
 * truncated) skips a file it loaded within 64 days. A recreated RAW table or
 * an object older than COPY's history is still caught by the ledger.
 *
 * Two stages, chosen by `SNOWFLAKE_STAGE`:
 *
 * - `internal`: the loader downloads each object and PUTs it, unchanged, to
 *   the internal stage `RAW.LAKE_STAGE` under its lake key; COPY purges what
 *   it loaded. Works with any S3 server, MinIO included.
 * - `external`: COPY reads the objects in place through the stage
 *   `RAW.LAKE_BUCKET` on `s3://<bucket>/` and its storage integration: no
 *   download, no upload.
 *
 * Statements go through a {@linkcode SnowflakeSession}; the real one is
 * lib/warehouse/snowflake_session.ts. Values travel as binds; the names COPY
 * must see as literals (stage paths, FILES) are lake keys, checked against
 * the characters lake keys use and quoted.
 *
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { LakeObject } from "../lake.ts";
import { logger } from "../log.ts";
import { mapLimit } from "../map_limit.ts";
import {
  type Inventory,
  offsetsByPartition,
  type SilverInventory,
} from "../reconcile.ts";
import { FatalError } from "../retry.ts";
import {
  CoordinateClashError,
  type LoadBatch,
  type LoadResult,
  type Warehouse,
} from "../warehouse.ts";

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

/** How {@linkcode SnowflakeWarehouse} reads lake objects. */
export interface SnowflakeWarehouseOptions {
  /** `internal`: PUT each object to an internal stage; `external`: a stage on the bucket. */
  stage: "internal" | "external";
  /** COPY's ON_ERROR. */
  onError: "CONTINUE" | "SKIP_FILE" | "ABORT_STATEMENT";
  /** External stage: the bucket, e.g. `stock-quotes`. */
  bucket?: string;
  /** External stage: the storage integration that grants Snowflake the bucket. */
  storageIntegration?: string;
  /**
   * Internal stage: where objects are written before PUT.
   *
   * @default {os.tmpdir()}
   */
  tempDir?: string;
  /**
   * Files per COPY statement; Snowflake takes at most 1,000 in FILES.
   *
   * @default {1000}
   */
  filesPerCopy?: number;
}

/** Most files one COPY statement's FILES list may name. */
export const MAX_FILES_PER_COPY = 1_000;

/** COPY's result for one file (the columns Snowflake returns). */
export interface CopyFileResult {
  /** The file, relative to the stage: the lake key. */
  file: string;
  /** `LOADED`, `PARTIALLY_LOADED` or `LOAD_FAILED`. */
  status: string;
  /** Lines parsed. */
  rowsParsed: number;
  /** Lines loaded into the staging table. */
  rowsLoaded: number;
  /** Lines refused. */
  errorsSeen: number;
  /** The first refusal, if any. */
  firstError: string | null;
  /** Its line number. */
  firstErrorLine: number | null;
}

const log = logger("snowflake");

const STAGED = "RAW.STAGED_STOCK_QUOTES";
const INTERNAL_STAGE = "RAW.LAKE_STAGE";
const EXTERNAL_STAGE = "RAW.LAKE_BUCKET";

/** The RAW schema; each statement runs on its own (Snowflake runs one per call). */
const BOOTSTRAP = [
  "create schema if not exists RAW",
  `create table if not exists RAW.SOURCE_STOCK_QUOTES (
    v variant not null,
    stream_id varchar not null,
    stream_topic varchar not null,
    stream_partition integer not null,
    stream_offset bigint not null,
    stream_timestamp timestamp_tz not null,
    file_name varchar not null,
    loaded_at timestamp_tz not null,
    primary key (stream_id, stream_topic, stream_partition, stream_offset)
  )`,
  `create table if not exists RAW.LOAD_LEDGER (
    file_name varchar not null primary key,
    file_size bigint not null,
    rows_in_file integer not null,
    rows_inserted integer not null,
    rows_duplicate integer not null,
    rows_rejected integer not null,
    loaded_at timestamp_tz not null
  )`,
  `create table if not exists RAW.REJECTED_STOCK_QUOTES (
    file_name varchar not null,
    line_number integer not null,
    line varchar not null,
    reason_field varchar not null,
    reason_value varchar not null,
    reason_rule varchar not null,
    rejected_at timestamp_tz not null
  )`,
  // COPY's target. Transient (no fail-safe copies of rows that live for one
  // load); only ever deleted from, so COPY keeps its load history.
  `create transient table if not exists ${STAGED} (
    v variant,
    file_name varchar not null,
    file_row_number integer not null
  )`,
  "create file format if not exists RAW.LAKE_JSON type = json compression = gzip",
];

/** The coordinates of a staged line, read from its `_stream` object. */
const COORDINATES = `
    v:"_stream":"id"::varchar as stream_id,
    v:"_stream":"topic"::varchar as stream_topic,
    try_to_number(v:"_stream":"partition"::varchar) as stream_partition,
    try_to_number(v:"_stream":"offset"::varchar) as stream_offset,
    try_to_number(v:"_stream":"timestamp"::varchar) as stream_timestamp_ms`;

/** The batch's staged lines (bind: the batch's keys as a JSON array). */
const BATCH = `
  staged as (
    select v, file_name, file_row_number, ${COORDINATES}
    from ${STAGED}
    where file_name in (select value::varchar from table(flatten(input => parse_json(?))))
  )`;

const HAS_COORDINATES = `stream_id is not null and stream_id <> ''
    and stream_topic is not null and stream_topic <> ''
    and stream_partition >= 0 and stream_offset >= 0 and stream_timestamp_ms >= 0`;

/** Staged lines whose coordinates name other events (binds: keys). */
const CLASHES = `
with ${BATCH},
clashing as (
  select staged.stream_id, staged.stream_topic, staged.stream_partition, staged.stream_offset
  from staged
  join RAW.SOURCE_STOCK_QUOTES as loaded
    on loaded.stream_id = staged.stream_id
    and loaded.stream_topic = staged.stream_topic
    and loaded.stream_partition = staged.stream_partition
    and loaded.stream_offset = staged.stream_offset
  where to_json(loaded.v) <> to_json(staged.v)
  union all
  select stream_id, stream_topic, stream_partition, stream_offset
  from staged
  where ${HAS_COORDINATES}
  group by stream_id, stream_topic, stream_partition, stream_offset
  having count(distinct to_json(v)) > 1
)
select count(*) as clashes,
  min(stream_id || ' ' || stream_topic || ' partition ' || stream_partition || ' offset ' || stream_offset) as example
from clashing`;

/** Lines without coordinates go to the reject table (binds: keys, time). */
const REJECT = `
insert into RAW.REJECTED_STOCK_QUOTES
with ${BATCH}
select file_name, file_row_number, coalesce(to_json(v), ''), '_stream',
  left(coalesce(to_json(v:"_stream"), 'null'), 80),
  'must hold the stream coordinates {id, topic, partition, offset, timestamp}',
  ?::timestamp_tz
from staged
where not (${HAS_COORDINATES})
  and not exists (
    select 1 from RAW.REJECTED_STOCK_QUOTES as rejected
    where rejected.file_name = staged.file_name
      and rejected.line_number = staged.file_row_number
  )`;

/**
 * What COPY refused (malformed JSON), one row per file with its first error
 * and count: COPY with a transformation cannot be VALIDATEd line by line
 * (binds: refusals as JSON, time).
 */
const REJECT_COPIED = `
insert into RAW.REJECTED_STOCK_QUOTES
select refusal.value:file::varchar, refusal.value:line::integer, '', 'event', '',
  refusal.value:rule::varchar, ?::timestamp_tz
from table(flatten(input => parse_json(?))) as refusal`;

/** New coordinates into RAW, each once (binds: keys, time). */
const INSERT = `
insert into RAW.SOURCE_STOCK_QUOTES
with ${BATCH}
select v, stream_id, stream_topic, stream_partition, stream_offset,
  to_timestamp_tz(stream_timestamp_ms, 3), file_name, ?::timestamp_tz
from staged
where ${HAS_COORDINATES}
  and not exists (
    select 1 from RAW.SOURCE_STOCK_QUOTES as loaded
    where loaded.stream_id = staged.stream_id
      and loaded.stream_topic = staged.stream_topic
      and loaded.stream_partition = staged.stream_partition
      and loaded.stream_offset = staged.stream_offset
  )
qualify row_number() over (
  partition by stream_id, stream_topic, stream_partition, stream_offset
  order by file_name, file_row_number
) = 1`;

/** Rows this load inserted, and lines it refused, per file (binds: time, time). */
const COUNTS = `
select file_name, sum(inserted) as inserted, sum(rejected) as rejected from (
  select file_name, 1 as inserted, 0 as rejected
  from RAW.SOURCE_STOCK_QUOTES where loaded_at = ?::timestamp_tz
  union all
  select file_name, 0, 1
  from RAW.REJECTED_STOCK_QUOTES where rejected_at = ?::timestamp_tz
)
group by file_name`;

/** One ledger row per object not in the ledger yet (binds: entries as JSON, time). */
const LEDGER = `
insert into RAW.LOAD_LEDGER
select entry.value:file::varchar, entry.value:size::bigint, entry.value:rows::integer,
  entry.value:inserted::integer, entry.value:duplicate::integer, entry.value:rejected::integer,
  ?::timestamp_tz
from table(flatten(input => parse_json(?))) as entry
where not exists (
  select 1 from RAW.LOAD_LEDGER as ledger where ledger.file_name = entry.value:file::varchar
)`;

/** The batch's lines leave the staging table (bind: keys); DELETE keeps COPY's history. */
const CLEAR = `delete from ${STAGED}
where file_name in (select value::varchar from table(flatten(input => parse_json(?))))`;

/** RAW's offsets of one log's topic (binds: stream id, topic). */
const INVENTORY_RAW = `select stream_partition as p, stream_offset as o
from RAW.SOURCE_STOCK_QUOTES where stream_id = ? and stream_topic = ?`;

/** Offsets the loader refused, where the refused line names them (binds: stream id, topic). */
const INVENTORY_REJECTED = `select p, o from (
  select try_parse_json(line):"_stream" as stream,
    try_to_number(stream:"partition"::varchar) as p,
    try_to_number(stream:"offset"::varchar) as o
  from RAW.REJECTED_STOCK_QUOTES
)
where stream:"id"::varchar = ? and stream:"topic"::varchar = ? and p is not null and o is not null`;

/** Whether dbt has built bronze and silver (3 relations). */
const SILVER_BUILT = `select count(*) as n from information_schema.tables
where (table_schema = 'BRONZE' and table_name = 'BRONZE_STG_STOCK_QUOTES')
   or (table_schema = 'SILVER' and table_name in ('SILVER_CLEAN_STOCK_QUOTES', 'SILVER_QUARANTINED_STOCK_QUOTES'))`;

/** Silver's side of one log, as lib/warehouse/duckdb.ts reads it (binds: id, topic three times). */
const INVENTORY_SILVER = `with built as (
  select max(loaded_at) as until from (
    select loaded_at from SILVER.SILVER_CLEAN_STOCK_QUOTES
    union all
    select loaded_at from SILVER.SILVER_QUARANTINED_STOCK_QUOTES
  )
)
select
  (select count(*) from SILVER.SILVER_CLEAN_STOCK_QUOTES
    where stream_id = ? and stream_topic = ?) as silver_rows,
  (select count(*) from SILVER.SILVER_QUARANTINED_STOCK_QUOTES
    where stream_id = ? and stream_topic = ?) as quarantined,
  (select count(*) from BRONZE.BRONZE_STG_STOCK_QUOTES as b, built
    where b.stream_id = ? and b.stream_topic = ? and b.loaded_at <= built.until
      and not exists (
        select 1 from SILVER.SILVER_CLEAN_STOCK_QUOTES as s
        where s.symbol = b.symbol and s.quote_ts = b.quote_ts
      )
      and not exists (
        select 1 from SILVER.SILVER_QUARANTINED_STOCK_QUOTES as q
        where q.stream_id = b.stream_id and q.stream_topic = b.stream_topic
          and q.stream_partition = b.stream_partition and q.stream_offset = b.stream_offset
      )) as lost,
  (select count(*) - count(distinct symbol, quote_ts) from SILVER.SILVER_CLEAN_STOCK_QUOTES) as duplicated`;

/** A COPY or PUT failed for a reason a retry will not fix. */
export class SnowflakeLoadError extends FatalError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SnowflakeLoadError";
  }
}

/** The Snowflake warehouse. */
export class SnowflakeWarehouse implements Warehouse {
  /** Account and database, without credentials. */
  readonly location: string;
  #session: SnowflakeSession;
  #options: SnowflakeWarehouseOptions & {
    tempDir: string;
    filesPerCopy: number;
  };

  private constructor(
    session: SnowflakeSession,
    options: SnowflakeWarehouseOptions,
  ) {
    this.location = session.location;
    this.#session = session;
    this.#options = {
      tempDir: tmpdir(),
      filesPerCopy: MAX_FILES_PER_COPY,
      ...options,
    };
    if (this.#options.filesPerCopy > MAX_FILES_PER_COPY) {
      throw new RangeError(
        `Cannot load as a COPY names at most ${MAX_FILES_PER_COPY} files: current value is ${this.#options.filesPerCopy}`,
      );
    }
  }

  /**
   * Creates RAW's tables, file format and stage if missing.
   *
   * @param session A connected session whose role may create them.
   * @param options Stage and COPY settings.
   * @returns The warehouse.
   * @throws {RangeError} When the external stage lacks its bucket or storage integration.
   */
  static async open(
    session: SnowflakeSession,
    options: SnowflakeWarehouseOptions,
  ): Promise<SnowflakeWarehouse> {
    const warehouse = new SnowflakeWarehouse(session, options);
    for (const statement of [...BOOTSTRAP, warehouse.#createStage()]) {
      await session.execute(statement);
    }
    return warehouse;
  }

  #createStage(): string {
    const { stage, bucket, storageIntegration } = this.#options;
    if (stage === "internal") {
      return `create stage if not exists ${INTERNAL_STAGE} file_format = (format_name = 'RAW.LAKE_JSON')`;
    }
    if (!bucket || !storageIntegration) {
      throw new RangeError(
        `Cannot use an external stage as it needs S3_BUCKET and SNOWFLAKE_STORAGE_INTEGRATION: current values are ${
          JSON.stringify(bucket ?? null)
        } and ${JSON.stringify(storageIntegration ?? null)}`,
      );
    }
    return `create stage if not exists ${EXTERNAL_STAGE} url = ${
      literal(`s3://${bucket}/`, BUCKET_URL)
    } storage_integration = ${
      identifier(storageIntegration)
    } file_format = (format_name = 'RAW.LAKE_JSON')`;
  }

  /** Keys of the objects in the load ledger. */
  async loadedKeys(): Promise<Set<string>> {
    const { rows } = await this.#session.execute(
      "select file_name from RAW.LOAD_LEDGER",
    );
    return new Set(rows.map((row) => String(row.FILE_NAME)));
  }

  /**
   * Copies the objects from the stage and loads their new rows, with their
   * ledger entries, in one transaction; any failure rolls all of it back.
   */
  async load({ lake, objects, reload }: LoadBatch): Promise<LoadResult> {
    if (objects.length === 0) {
      return { files: 0, rows: 0, inserted: 0, duplicates: 0, rejected: 0 };
    }
    for (const object of objects) literal(object.key, LAKE_KEY);
    const internal = this.#options.stage === "internal";
    const upload = internal ? await this.#upload(lake, objects) : undefined;
    const session = this.#session;
    const keys = JSON.stringify(objects.map((o) => o.key));
    const now = new Date().toISOString();
    await session.execute("begin");
    try {
      const copied: CopyFileResult[] = [];
      for (let i = 0; i < objects.length; i += this.#options.filesPerCopy) {
        const chunk = objects.slice(i, i + this.#options.filesPerCopy);
        copied.push(...await this.#copy(chunk, reload));
      }
      const [clash] = (await session.execute(CLASHES, [keys])).rows;
      if (Number(clash?.CLASHES ?? 0) > 0) {
        throw new CoordinateClashError(
          Number(clash.CLASHES),
          String(clash.EXAMPLE),
        );
      }
      await session.execute(REJECT, [keys, now]);
      await session.execute(INSERT, [keys, now]);
      const counts = new Map(
        (await session.execute(COUNTS, [now, now])).rows.map((row) => [
          String(row.FILE_NAME),
          { inserted: Number(row.INSERTED), rejected: Number(row.REJECTED) },
        ]),
      );
      const byFile = new Map(copied.map((c) => [c.file, c]));
      const entries = objects.map((object) => {
        const copy = byFile.get(object.key);
        const rows = copy?.rowsParsed ?? 0;
        const { inserted = 0, rejected = 0 } = counts.get(object.key) ?? {};
        const refused = rejected + (copy?.errorsSeen ?? 0);
        return {
          file: object.key,
          size: object.size,
          rows,
          inserted,
          duplicate: rows - inserted - refused,
          rejected: refused,
        };
      });
      const refusals = copied.filter((c) => c.errorsSeen > 0).map((c) => ({
        file: c.file,
        line: c.firstErrorLine ?? 0,
        rule: `COPY refused ${c.errorsSeen} line(s); first: ${c.firstError}`,
      }));
      if (refusals.length > 0) {
        await session.execute(REJECT_COPIED, [now, JSON.stringify(refusals)]);
      }
      await session.execute(LEDGER, [now, JSON.stringify(entries)]);
      await session.execute(CLEAR, [keys]);
      await session.execute("commit");
      const total = (name: "rows" | "inserted" | "duplicate" | "rejected") =>
        entries.reduce((sum, entry) => sum + entry[name], 0);
      return {
        files: objects.length,
        rows: total("rows"),
        inserted: total("inserted"),
        duplicates: total("duplicate"),
        rejected: total("rejected"),
      };
    } catch (error) {
      await session.execute("rollback").catch(() => {});
      throw error;
    } finally {
      if (upload) await rm(upload, { recursive: true, force: true });
    }
  }

  /** Writes the objects under a temporary directory and PUTs them, one PUT per key prefix. */
  async #upload(
    lake: LoadBatch["lake"],
    objects: LakeObject[],
  ): Promise<string> {
    const dir = await mkdtemp(join(this.#options.tempDir, "snowflake-put-"));
    try {
      await mapLimit(objects, 8, async (object) => {
        const path = join(dir, object.key);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, await lake.get(object.key));
      });
      const prefixes = [...new Set(objects.map((o) => dirname(o.key)))];
      for (const prefix of prefixes) {
        const { rows } = await this.#session.execute(
          `put ${literal(`file://${join(dir, prefix)}/*`, LOCAL_PATH)} ${
            literal(`@${INTERNAL_STAGE}/${prefix}/`, STAGE_PATH)
          } auto_compress = false source_compression = gzip overwrite = true parallel = 4`,
        );
        const failed = rows.filter((row) =>
          !["UPLOADED", "SKIPPED"].includes(String(row.status ?? row.STATUS))
        );
        if (failed.length > 0) {
          throw new SnowflakeLoadError(
            `Cannot load as PUT did not upload ${failed.length} file(s) under ${prefix}: ${
              String(failed[0].message ?? failed[0].MESSAGE ?? failed[0].status)
            }`,
          );
        }
      }
      return dir;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** One COPY of at most `filesPerCopy` objects; logs and returns each file's result. */
  async #copy(
    objects: LakeObject[],
    reload: boolean,
  ): Promise<CopyFileResult[]> {
    const internal = this.#options.stage === "internal";
    const files = objects.map((o) => literal(o.key, LAKE_KEY)).join(", ");
    const sql = `copy into ${STAGED} (v, file_name, file_row_number)
from (select $1, metadata$filename, metadata$file_row_number from @${
      internal ? INTERNAL_STAGE : EXTERNAL_STAGE
    })
files = (${files})
file_format = (format_name = 'RAW.LAKE_JSON')
on_error = ${this.#options.onError}${reload ? "\nforce = true" : ""}${
      internal ? "\npurge = true" : ""
    }`;
    const { rows } = await this.#session.execute(sql);
    const results = rows.filter((row) =>
      row.file !== undefined || row.FILE !== undefined
    )
      .map(copyFileResult);
    const skipped = objects.length - results.length;
    if (skipped > 0) {
      log.warn(
        "COPY skipped files its load history holds but the ledger does not (was the ledger emptied?); rerun with --reload to read them again",
        { skipped },
      );
    }
    for (const result of results) {
      const fields = {
        file: result.file,
        status: result.status,
        rows_parsed: result.rowsParsed,
        rows_loaded: result.rowsLoaded,
        errors: result.errorsSeen,
      };
      if (result.errorsSeen > 0 || result.status !== "LOADED") {
        log.warn("COPY refused lines of a file", {
          ...fields,
          first_error: result.firstError ?? undefined,
          first_error_line: result.firstErrorLine ?? undefined,
        });
      } else {
        log.debug("COPY loaded a file", fields);
      }
    }
    return results;
  }

  /** What RAW and silver hold of one log's topic (silver null until dbt built it). */
  async inventory(streamId: string, topic: string): Promise<Inventory> {
    const session = this.#session;
    const pairs = async (sql: string) =>
      (await session.execute(sql, [streamId, topic])).rows.map((row) =>
        [row.P, row.O] as const
      );
    const raw = offsetsByPartition(await pairs(INVENTORY_RAW));
    const rejected = offsetsByPartition(await pairs(INVENTORY_REJECTED));
    const [built] = (await session.execute(SILVER_BUILT)).rows;
    let silver: SilverInventory | null = null;
    if (Number(built?.N) === 3) {
      const [row] = (await session.execute(INVENTORY_SILVER, [
        streamId,
        topic,
        streamId,
        topic,
        streamId,
        topic,
      ])).rows;
      silver = {
        rows: Number(row.SILVER_ROWS),
        quarantined: Number(row.QUARANTINED),
        lost: Number(row.LOST),
        duplicated: Number(row.DUPLICATED),
      };
    }
    return { raw, rejected, silver };
  }

  /** Closes the session. */
  async close(): Promise<void> {
    await this.#session.close();
  }
}

/** Reads one row of COPY's result, whatever the case of its column names. */
function copyFileResult(row: Record<string, unknown>): CopyFileResult {
  const get = (name: string) => row[name] ?? row[name.toUpperCase()];
  const count = (name: string) => Number(get(name) ?? 0);
  const firstError = get("first_error");
  const firstErrorLine = get("first_error_line");
  return {
    file: String(get("file")),
    status: String(get("status")),
    rowsParsed: count("rows_parsed"),
    rowsLoaded: count("rows_loaded"),
    errorsSeen: count("errors_seen"),
    firstError: firstError == null ? null : String(firstError),
    firstErrorLine: firstErrorLine == null ? null : Number(firstErrorLine),
  };
}

/** Characters of lake keys (lib/lake.ts): topic, `symbol=`, `date=`, offsets. */
const LAKE_KEY = /^[A-Za-z0-9][A-Za-z0-9._:=+\/-]*$/;
const STAGE_PATH = /^@[A-Z_.]+\/[A-Za-z0-9._:=+\/-]*$/;
const BUCKET_URL = /^s3:\/\/[a-z0-9][a-z0-9.-]*\/$/;
const LOCAL_PATH = /^file:\/\/\/[^\0\n\r]*$/;

/**
 * A single-quoted SQL literal of a name COPY or PUT must see as a literal,
 * after checking it has the shape such names have.
 *
 * @throws {SnowflakeLoadError} When the name has another shape.
 */
export function literal(value: string, shape: RegExp): string {
  if (!shape.test(value) || value.split("/").includes("..")) {
    throw new SnowflakeLoadError(
      `Cannot load as ${
        JSON.stringify(value)
      } is not a name a Snowflake stage path or file list may hold`,
    );
  }
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** An identifier (e.g. a storage integration's name), checked, not quoted. */
function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)) {
    throw new RangeError(
      `Cannot use ${
        JSON.stringify(name)
      } as a Snowflake identifier: letters, digits, _ and $ only`,
    );
  }
  return name;
}
