/**
 * The DuckDB warehouse's SQL: RAW's tables, the staging of a load, the
 * matching of staged rows with RAW, the load itself, the inventory
 * reads of reconciliation, the reads of `deno task status`, and the latest
 * quote of each symbol. Literal SQL only: values travel as parameters or
 * through appenders, never in the text.
 *
 * @module
 */
import { SILVER_RECONCILIATION } from "../inventory.ts";
import { GOLD_LATEST_KPI } from "../latest.ts";
import { CONTRACTS, type EventKind } from "../../contract/kinds.ts";
import { lineRules } from "./line_rules.ts";

/** RAW's table of one kind of event, with its schema. */
function raw(kind: EventKind): string {
  return `raw.${CONTRACTS[kind].rawTable}`;
}

/** The table of one kind's refused lines, with its schema. */
function rejected(kind: EventKind): string {
  return `raw.${CONTRACTS[kind].rejectedTable}`;
}

/** RAW's table of one kind of event: the landed line and its stream coordinates. */
function rawTable(kind: string): string {
  return `create table if not exists raw.source_stock_${kind} (
  v json not null,
  stream_id varchar not null,
  stream_topic varchar not null,
  stream_partition integer not null,
  stream_offset bigint not null,
  stream_timestamp timestamptz not null,
  file_name varchar not null,
  loaded_at timestamptz not null
);
`;
}

/** The lines of one kind of event the loader refused, with the rule each broke. */
function rejectedTable(kind: string): string {
  return `create table if not exists raw.rejected_stock_${kind} (
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
}

/**
 * Tables of the RAW schema, created on first use. RAW has no primary key:
 * a load skips the coordinates it holds by offset ranges
 * (`raw.loaded_ranges`, one row per run of consecutive offsets of an
 * object), not by a key probe per row.
 */
export const BOOTSTRAP = `
create schema if not exists raw;
${
  ["quotes", "trades"].map(rawTable).join("")
}create table if not exists raw.loaded_ranges (
  stream_id varchar not null,
  stream_topic varchar not null,
  stream_partition integer not null,
  first_offset bigint not null,
  last_offset bigint not null,
  file_name varchar not null,
  loaded_at timestamptz not null
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
${["quotes", "trades"].map(rejectedTable).join("")}`;

/**
 * Inserts the runs of consecutive offsets of the rows of `source`, per
 * partition and object, into the loaded ranges.
 */
function rangesOf(source: string): string {
  return `
insert into raw.loaded_ranges
  select stream_id, stream_topic, stream_partition, min(stream_offset), max(stream_offset),
    file_name, now()
  from (
    select stream_id, stream_topic, stream_partition, stream_offset, file_name,
      stream_offset - row_number() over (
        partition by stream_id, stream_topic, stream_partition, file_name order by stream_offset
      ) as island
    from ${source}
  )
  group by stream_id, stream_topic, stream_partition, file_name, island`;
}

/** Whether RAW still has the primary key of the versions before the ranges (1 when it has). */
export const RAW_HAS_KEY = `
select count(*) from duckdb_constraints()
where schema_name = 'raw' and table_name = 'source_stock_quotes' and constraint_type = 'PRIMARY KEY'`;

/**
 * Moves RAW of a version before the ranges to the table without a key, and
 * derives its ranges from its rows, in one transaction.
 */
export const MIGRATE_RAW = `
begin transaction;
create table raw.source_stock_quotes_without_key as select * from raw.source_stock_quotes;
drop table raw.source_stock_quotes;
alter table raw.source_stock_quotes_without_key rename to source_stock_quotes;
${rangesOf("raw.source_stock_quotes")};
commit;
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

/**
 * A load's scratch tables: the file of each object, the lines DuckDB read
 * (as JSON when DuckDB could parse them, else null, with their length in
 * bytes), the objects, and the checked rows and refusals of the objects
 * checked in TypeScript.
 */
export const STAGING = `
create or replace temp table staging_paths (file_index integer, path varchar);
create or replace temp table staging_lines (
  line json, bytes bigint, file_index integer, passes boolean,
  stream_id varchar, stream_topic varchar, stream_partition integer, stream_offset bigint, timestamp_ms bigint
);
create or replace temp table staging_files (
  file_index integer, file_name varchar, file_size bigint, rows_in_file integer, native boolean
);
create or replace temp table staging_rows (
  line varchar, stream_id varchar, stream_topic varchar, stream_partition integer, stream_offset bigint,
  timestamp_ms bigint, file_name varchar
);
create or replace temp table staging_rejects (
  file_name varchar, line_number integer, line varchar,
  reason_field varchar, reason_value varchar, reason_rule varchar
);
`;

/** Drops the scratch tables of a load, whatever it reached. */
export const DROP_STAGING = `
drop view if exists staged_rows;
drop table if exists fresh; drop table if exists batch; drop table if exists batch_islands;
drop table if exists inserted_per_file;
drop table if exists batch_overlaps;
drop table if exists staging_lines; drop table if exists staging_rows; drop table if exists staging_files;
drop table if exists staging_rejects; drop table if exists staging_paths;`;

/**
 * Every line of the objects whose files `staging_paths` names, as DuckDB
 * reads them itself (one column with no delimiter, quote or escape, so a
 * line comes whole; empty lines are skipped, as lib/lake/ndjson.ts does;
 * buffers of 4 MiB, not the reader's 32 MiB, so that a batch of large
 * objects fits DuckDB's memory limit; a line over 1 MiB fails the read),
 * checked in SQL (./line_rules.ts) by the rules of `kind`. Params: the
 * validator's clock in epoch milliseconds, and the files, in
 * `staging_paths`' order.
 */
export function stageLinesSql(kind: EventKind): string {
  const rules = lineRules(kind);
  const c = rules.coordinates;
  return `
insert into staging_lines
select v, bytes, file_index, passes,
  case when passes then ${c.streamId} end, case when passes then ${c.topic} end,
  case when passes then ${c.partition} end, case when passes then ${c.offset} end,
  case when passes then ${c.timestamp} end
from (
  select v, bytes, file_index, j, coalesce(v is not null and ${rules.passes}, false) as passes
  from (
    select line, strlen(line) as bytes, p.file_index, ${rules.json} as v, ${rules.values} as j
    from read_csv($2::varchar[], columns = {'line': 'varchar'}, delim = '\\x01', quote = '', escape = '',
      header = false, compression = 'gzip', filename = true, auto_detect = false,
      buffer_size = 4194304, max_line_size = 1048576) as r
    join staging_paths as p on p.path = r.filename
    where line is not null
  )
)`;
}

/**
 * Per object DuckDB read: its lines, the lines the SQL check did not pass,
 * the bytes of the lines with their newlines, and the range of partitions,
 * topics and offsets of the lines that passed.
 */
export const FILE_STATS = `
select file_index, count(*)::integer, count(*) filter (where not passes)::integer,
  (sum(bytes) + count(*))::bigint,
  min(stream_partition), max(stream_partition), min(stream_topic), max(stream_topic),
  min(stream_offset), max(stream_offset)
from staging_lines group by file_index`;

/**
 * Every row to load: those of the objects marked `native` (every line passed
 * the SQL check and the lines agree with the object's name), straight from
 * DuckDB's read, and the rows of the others as TypeScript checked them.
 */
export const STAGED = `
create or replace temp view staged_rows as
select line, stream_id, stream_topic, stream_partition, stream_offset, timestamp_ms, f.file_name
from staging_lines
join staging_files as f using (file_index)
where f.native
union all
select line::json, stream_id, stream_topic, stream_partition, stream_offset, timestamp_ms, file_name
from staging_rows`;

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
  select min(line::varchar) <> max(line::varchar) as differ, any_value(${COORDINATE}) as coordinate
  from staged_rows
  group by stream_id, stream_topic, stream_partition, stream_offset
  having count(*) > 1
)`;

/** Partitions of one log and topic, as a join condition between `a` and `b`. */
const SAME_PARTITION =
  "a.stream_id = b.stream_id and a.stream_topic = b.stream_topic and a.stream_partition = b.stream_partition";

/**
 * The runs of consecutive offsets of `source` (the staged rows, or the
 * batch without repeats) per partition, with their row counts: a run with
 * more rows than offsets holds a coordinate twice. Each run is named after
 * its first object.
 */
export function islandsSql(source: "staged_rows" | "batch"): string {
  return `
create or replace temp table batch_islands as
select stream_id, stream_topic, stream_partition, min(stream_offset) as lo, max(stream_offset) as hi,
  count(*) as row_count, min(file_name) as file_name
from (
  select stream_id, stream_topic, stream_partition, stream_offset, file_name,
    stream_offset - dense_rank() over (
      partition by stream_id, stream_topic, stream_partition order by stream_offset
    ) as island
  from ${source}
)
group by stream_id, stream_topic, stream_partition, island`;
}

/** Opens the load's transaction. */
export const BEGIN = "begin transaction";

/**
 * The batch without repeated coordinates: each once, the first object's
 * row winning (a sort, paid only when the batch repeats a coordinate).
 */
export const DEDUPLICATED = `
create temp table batch as
select * from staged_rows
qualify row_number() over (
  partition by stream_id, stream_topic, stream_partition, stream_offset order by file_name
) = 1`;

/** The least and greatest offset of the batch, and its rows beyond one per coordinate. */
export const BATCH_BOUNDS =
  "select min(lo), max(hi), sum(row_count) - sum(hi - lo + 1) from batch_islands";

/**
 * The offsets of the batch that RAW holds already, as ranges: where its runs
 * meet the loaded ranges of the same partitions (params: the batch's least
 * and greatest offset, which let DuckDB skip the row groups of the ranges
 * table outside them).
 */
export const OVERLAPS = `
create temp table batch_overlaps as
select b.stream_id, b.stream_topic, b.stream_partition,
  greatest(a.first_offset, b.lo) as lo, least(a.last_offset, b.hi) as hi
from raw.loaded_ranges as a
join batch_islands as b
  on ${SAME_PARTITION} and a.first_offset <= b.hi and a.last_offset >= b.lo
where a.last_offset >= $1 and a.first_offset <= $2`;

/**
 * A backfill's reload reads RAW itself instead of the ranges, so that rows
 * deleted from RAW are restored (params as {@linkcode OVERLAPS}).
 */
export function reloadOverlapsSql(kind: EventKind): string {
  return `
create temp table batch_overlaps as
select distinct a.stream_id, a.stream_topic, a.stream_partition, a.stream_offset as lo, a.stream_offset as hi
from ${raw(kind)} as a
join batch_islands as b
  on ${SAME_PARTITION} and a.stream_offset between b.lo and b.hi
where a.stream_offset between $1 and $2`;
}

/** How many ranges of the batch RAW holds already. */
export const OVERLAP_COUNT = "select count(*) from batch_overlaps";

/** Each row of `source`, and whether RAW holds its coordinates already. */
export function freshSql(source: "staged_rows" | "batch"): string {
  return `
create temp table fresh as
select b.*, exists (
  select 1 from batch_overlaps as a
  where ${SAME_PARTITION} and b.stream_offset between a.lo and a.hi
) as loaded_before
from ${source} as b`;
}

/** The least and greatest offset of the rows RAW holds already, and their count. */
export const LOADED_BEFORE =
  "select count(*), min(stream_offset), max(stream_offset) from fresh where loaded_before";

/**
 * Rows whose coordinates RAW holds with other content (a clash): how many,
 * and an example (params: the least and greatest offset loaded before).
 */
export function clashesSql(kind: EventKind): string {
  return `
select count(*), min(${COORDINATE.replaceAll("stream_", "b.stream_")})
from ${raw(kind)} as a
join fresh as b
  on ${SAME_PARTITION} and a.stream_offset = b.stream_offset
where b.loaded_before and a.stream_offset between $1 and $2 and a.v::varchar <> b.line::varchar`;
}

/** The ledger's row of each object, and the refusals, then the commit (a reloaded object keeps the record of its first load). */
function ledgerAndCommit(kind: EventKind): string {
  return `
insert or ignore into raw.load_ledger
  select f.file_name, f.file_size, f.rows_in_file,
         coalesce(i.inserted, 0), f.rows_in_file - coalesce(i.inserted, 0) - coalesce(r.rejected, 0),
         coalesce(r.rejected, 0), now()
  from staging_files as f
  left join inserted_per_file as i using (file_name)
  left join (select file_name, count(*) as rejected from staging_rejects group by file_name) as r
    using (file_name);
insert or ignore into ${rejected(kind)}
  select file_name, line_number, line, reason_field, reason_value, reason_rule, now()
  from staging_rejects;
drop table inserted_per_file;
commit;
`;
}

/**
 * Inserts every row of `source`, none of which RAW holds, the batch's runs
 * as loaded ranges, the ledger and the refusals, and commits: the load of a
 * batch that overlaps nothing loaded, with no copy of its rows on the way.
 */
export function loadAllSql(
  kind: EventKind,
  source: "staged_rows" | "batch",
): string {
  return `
insert into ${raw(kind)}
  select line, stream_id, stream_topic, stream_partition, stream_offset,
         make_timestamptz(timestamp_ms * 1000), file_name, now()
  from ${source};
insert into raw.loaded_ranges
  select stream_id, stream_topic, stream_partition, lo, hi, file_name, now() from batch_islands;
create temp table inserted_per_file as
  select file_name, count(*) as inserted from ${source} group by file_name;
${ledgerAndCommit(kind)}`;
}

/**
 * Inserts the rows of `fresh` RAW does not hold, their runs of consecutive
 * offsets per object as loaded ranges, the ledger and the refusals, and
 * commits.
 */
export function loadFreshSql(kind: EventKind): string {
  return `
insert into ${raw(kind)}
  select line, stream_id, stream_topic, stream_partition, stream_offset,
         make_timestamptz(timestamp_ms * 1000), file_name, now()
  from fresh
  where not loaded_before;
${rangesOf("(select * from fresh where not loaded_before)")};
create temp table inserted_per_file as
  select file_name, count(*) as inserted from fresh where not loaded_before group by file_name;
${ledgerAndCommit(kind)}`;
}

/**
 * Each partition's lowest and highest offset in RAW of one log's topic;
 * params: stream id, topic.
 */
export function inventoryRawBoundsSql(kind: EventKind): string {
  return `
select stream_partition, min(stream_offset), max(stream_offset)
from ${raw(kind)}
where stream_id = $1 and stream_topic = $2
group by stream_partition
order by 1`;
}

/**
 * RAW's offsets of one log's topic in one window of one partition, as runs
 * of consecutive offsets with their rows (a run with more rows than offsets
 * holds an offset twice); params: stream id, topic, partition, first and
 * last offset of the window. A window keeps the sort behind `dense_rank` to
 * its own rows, whatever RAW's size.
 */
export function inventoryRawSql(kind: EventKind): string {
  return `
select stream_partition, min(stream_offset), max(stream_offset), count(*)
from (
  select stream_partition, stream_offset,
    stream_offset - dense_rank() over (order by stream_offset) as run
  from ${raw(kind)}
  where stream_id = $1 and stream_topic = $2 and stream_partition = $3::integer
    and stream_offset between $4::bigint and $5::bigint
)
group by stream_partition, run
order by 2`;
}

/** Offsets the loader refused, where the refused line names them. */
export function inventoryRejectedSql(kind: EventKind): string {
  return `
select partition, "offset" from (
  select
    try(json_extract_string(line, '$._stream.id')) as stream_id,
    try(json_extract_string(line, '$._stream.topic')) as stream_topic,
    try_cast(try(json_extract_string(line, '$._stream.partition')) as integer) as partition,
    try_cast(try(json_extract_string(line, '$._stream.offset')) as bigint) as "offset"
  from ${rejected(kind)}
)
where stream_id = $1 and stream_topic = $2 and partition is not null and "offset" is not null`;
}

/** Whether dbt has built the model silver_reconciliation (1 relation). */
export const SILVER_BUILT = `
select count(*) from information_schema.tables
where table_schema = '${SILVER_RECONCILIATION.schema}' and table_name = '${SILVER_RECONCILIATION.name}'`;

/**
 * Silver's side of one log (params: stream id, topic, kind), as the dbt
 * model silver_reconciliation counts it, in one pass over the model.
 */
export const INVENTORY_SILVER = `
select
  coalesce(sum(case when stream_id = $1 and stream_topic = $2 then silver_row_count end), 0),
  coalesce(sum(case when stream_id = $1 and stream_topic = $2 then quarantined_row_count end), 0),
  coalesce(sum(case when stream_id = $1 and stream_topic = $2 then lost_row_count end), 0),
  coalesce(max(case when event_kind = $3 then duplicated_row_count end), 0)
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

/**
 * The tables of RAW, silver and gold, and the gold copy's `main.published`,
 * as `schema.table`: what `deno task status` may read.
 */
export const STATUS_TABLES = `
select table_schema || '.' || table_name from information_schema.tables
where table_schema in ('raw', 'silver', 'gold', 'main')`;

/**
 * Each partition's newest loaded offset of one log's topic and when it was
 * loaded, from the loaded ranges (about one row per lake object, not RAW's
 * rows); params: stream id, topic.
 */
export const STATUS_LOADED = `
select stream_partition, max(last_offset), epoch_ms(max(loaded_at))
from raw.loaded_ranges
where stream_id = $1 and stream_topic = $2
group by stream_partition
order by stream_partition`;

/**
 * The newest stream timestamp, in epoch ms, of one log's rows loaded at or
 * after a time: RAW's row groups before it are skipped by their zone maps
 * (rows are appended in load order); params: stream id, topic, epoch ms.
 */
export function statusRawEventSql(kind: EventKind): string {
  return `
select epoch_ms(max(stream_timestamp)) from ${raw(kind)}
where stream_id = $1 and stream_topic = $2
  and loaded_at >= make_timestamptz($3::bigint * 1000)`;
}

/** A layer table's newest `transformed_at`, in epoch ms (`table` from LAYER_TABLES). */
export function statusNewestSql(table: string): string {
  return `select epoch_ms(max(transformed_at)) from ${table}`;
}

/** The lines the loader refused of one kind, by field and rule. */
export function statusRejectedSql(kind: EventKind): string {
  return `
select reason_field, reason_rule, count(*) from ${rejected(kind)}
group by reason_field, reason_rule
order by 3 desc, 1, 2`;
}

/** When the gold copy was published, in epoch ms (read in the copy). */
export const STATUS_PUBLISHED =
  "select epoch_ms(max(published_at)) from main.published";
