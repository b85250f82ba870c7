/**
 * The DuckDB warehouse's SQL: RAW's tables, the staging of a load, the
 * matching of staged rows with RAW, the load itself, the inventory
 * reads of reconciliation, and the latest quote of each symbol. Literal SQL only: values travel as parameters or
 * through appenders, never in the text.
 *
 * @module
 */
import { join } from "node:path";
import { SILVER_RECONCILIATION } from "../inventory.ts";
import { GOLD_LATEST_KPI } from "../latest.ts";

/** Tables of the RAW schema, created on first use. */
export const BOOTSTRAP = `
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
create table if not exists raw.load_marks (
  topic varchar not null,
  landing_day date not null,
  stream_partition integer not null,
  stream_tag varchar not null,
  last_key varchar not null,
  updated_at timestamptz not null,
  primary key (topic, landing_day, stream_partition, stream_tag)
);
create table if not exists raw.load_sweeps (
  topic varchar primary key,
  swept_at timestamptz not null
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

/** Discovery's marks of a topic's newest marked day and the lookback before it (params: topic, days). */
export const MARKS = `
select strftime(landing_day, '%Y-%m-%d'), stream_partition, stream_tag, last_key
from raw.load_marks
where topic = $1
  and landing_day >= (select max(landing_day) from raw.load_marks where topic = $1) - $2::integer`;

/** Whether a topic's prefix was swept (param: topic). */
export const SWEPT = "select count(*) from raw.load_sweeps where topic = $1";

/** Moves one mark forward (params: topic, day, partition, tag, key). */
export const SAVE_MARK = `
insert into raw.load_marks values ($1, $2::date, $3, $4, $5, now())
on conflict (topic, landing_day, stream_partition, stream_tag) do update
  set last_key = greatest(last_key, excluded.last_key), updated_at = excluded.updated_at`;

/** Records a topic's sweep (param: topic). */
export const SAVE_SWEEP =
  "insert or ignore into raw.load_sweeps values ($1, now())";

/** Candidate keys, appended before {@linkcode UNLOADED} compares them with the ledger. */
export const CANDIDATES =
  "create or replace temp table candidate_keys (file_name varchar)";

/**
 * The candidate keys the ledger does not hold (params: the least and greatest
 * candidate, so that DuckDB skips the ledger's row groups outside them).
 */
export const UNLOADED = `
select c.file_name from candidate_keys as c
where not exists (
  select 1 from raw.load_ledger as l
  where l.file_name between $1 and $2 and l.file_name = c.file_name
)`;

export const STAGING = `
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

export const DROP_STAGING =
  "drop view if exists staged_rows; drop table staging_lines; drop table staging_rows; drop table staging_files; drop table staging_rejects;";

/**
 * Every line of the objects saved in `dir` as `<file index>.ndjson.gz`, as
 * DuckDB reads them itself: one column with no delimiter, quote or escape,
 * so a line comes whole; empty lines are skipped, as lib/lake/ndjson.ts does.
 */
export function stageLinesSql(dir: string): string {
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
export const NATIVE_DIGESTS = `
select file_index, count(*)::integer, sum(length(line))::varchar, sum(c.partition)::varchar,
  sum(c."offset")::varchar
from staging_lines group by file_index`;

/**
 * Every row to load: those of the objects marked `native` (every line passed
 * the landed-line contract in ./line_check.ts, and DuckDB read the same lines),
 * straight from DuckDB's own read, and the checked rows of the others.
 */
export const STAGED = `
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
export const REPEATS = `
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
export function matchSql(repeats: boolean): string {
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
export const CLASHES =
  `select count(*), min(${COORDINATE}) from fresh where clash`;

/** Inserts new coordinates, ledger and rejects, and commits; literal SQL, no data in it. */
export const LOAD = `
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
export const INVENTORY_RAW = `
select stream_partition, stream_offset from raw.source_stock_quotes
where stream_id = $1 and stream_topic = $2`;

/** Offsets the loader refused, where the refused line names them. */
export const INVENTORY_REJECTED = `
select partition, "offset" from (
  select
    try(json_extract_string(line, '$._stream.id')) as stream_id,
    try(json_extract_string(line, '$._stream.topic')) as stream_topic,
    try_cast(try(json_extract_string(line, '$._stream.partition')) as integer) as partition,
    try_cast(try(json_extract_string(line, '$._stream.offset')) as bigint) as "offset"
  from raw.rejected_stock_quotes
)
where stream_id = $1 and stream_topic = $2 and partition is not null and "offset" is not null`;

/** Whether dbt has built the model silver_reconciliation (1 relation). */
export const SILVER_BUILT = `
select count(*) from information_schema.tables
where table_schema = '${SILVER_RECONCILIATION.schema}' and table_name = '${SILVER_RECONCILIATION.name}'`;

/**
 * Silver's side of one log (params: stream id, topic), as the dbt model
 * silver_reconciliation counts it, in one pass over the model.
 */
export const INVENTORY_SILVER = `
select
  coalesce(sum(case when stream_id = $1 and stream_topic = $2 then silver_row_count end), 0),
  coalesce(sum(case when stream_id = $1 and stream_topic = $2 then quarantined_row_count end), 0),
  coalesce(sum(case when stream_id = $1 and stream_topic = $2 then lost_row_count end), 0),
  coalesce(max(duplicated_row_count), 0)
from ${SILVER_RECONCILIATION.schema}.${SILVER_RECONCILIATION.name}`;

/** Whether dbt has built the model gold_latest_kpi (1 relation). */
export const GOLD_LATEST_BUILT = `
select count(*) from information_schema.tables
where table_schema = '${GOLD_LATEST_KPI.schema}' and table_name = '${GOLD_LATEST_KPI.name}'`;

/**
 * Each symbol's latest quote in gold_latest_kpi: symbol, price, quote time
 * in epoch seconds, day open, day high, day low, previous close.
 */
export const LATEST_QUOTES = `
select symbol, price, epoch(quote_ts), day_open, day_high, day_low, prev_close
from ${GOLD_LATEST_KPI.schema}.${GOLD_LATEST_KPI.name}`;
