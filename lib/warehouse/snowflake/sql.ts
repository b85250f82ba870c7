/**
 * The Snowflake warehouse's SQL: RAW's tables, the checks and inserts of a
 * load from the staging table, the ledger, the inventory reads of
 * reconciliation, the reads of `deno task status`, and the latest quote of
 * each symbol. Values travel as binds (`?`), never in the text.
 *
 * @module
 */
import { CONTRACTS, type EventKind } from "../../contract/kinds.ts";
import { SILVER_RECONCILIATION } from "../inventory.ts";
import { GOLD_LATEST_KPI } from "../latest.ts";

/** COPY's target, where a load's lines wait for their transaction. */
export const STAGED = "RAW.STAGED_STOCK_QUOTES";
/** The internal stage objects are PUT to. */
export const INTERNAL_STAGE = "RAW.LAKE_STAGE";
/** The stage on the bucket, read in place. */
export const EXTERNAL_STAGE = "RAW.LAKE_BUCKET";

/** RAW's table of one kind of event, with its schema. */
function raw(kind: EventKind): string {
  return `RAW.${CONTRACTS[kind].rawTable.toUpperCase()}`;
}

/** The table of one kind's refused lines, with its schema. */
function rejected(kind: EventKind): string {
  return `RAW.${CONTRACTS[kind].rejectedTable.toUpperCase()}`;
}

/** RAW's table of one kind of event: the landed line and its stream coordinates. */
function rawTable(kind: string): string {
  return `create table if not exists RAW.SOURCE_STOCK_${kind} (
    v variant not null,
    stream_id varchar not null,
    stream_topic varchar not null,
    stream_partition integer not null,
    stream_offset bigint not null,
    stream_timestamp timestamp_tz not null,
    file_name varchar not null,
    loaded_at timestamp_tz not null,
    primary key (stream_id, stream_topic, stream_partition, stream_offset)
  )`;
}

/** The lines of one kind of event the loader refused, with the rule each broke. */
function rejectedTable(kind: string): string {
  return `create table if not exists RAW.REJECTED_STOCK_${kind} (
    file_name varchar not null,
    line_number integer not null,
    line varchar not null,
    reason_field varchar not null,
    reason_value varchar not null,
    reason_rule varchar not null,
    rejected_at timestamp_tz not null
  )`;
}

/** The RAW schema; each statement runs on its own (Snowflake runs one per call). */
export const BOOTSTRAP = [
  "create schema if not exists RAW",
  ...["QUOTES", "TRADES"].map(rawTable),
  `create table if not exists RAW.LOADED_RANGES (
    stream_id varchar not null,
    stream_topic varchar not null,
    stream_partition integer not null,
    first_offset bigint not null,
    last_offset bigint not null,
    file_name varchar not null,
    loaded_at timestamp_tz not null
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
  `create table if not exists RAW.LOAD_MARKS (
    topic varchar not null,
    landing_day date not null,
    stream_partition integer not null,
    stream_tag varchar not null,
    last_key varchar not null,
    updated_at timestamp_tz not null,
    primary key (topic, landing_day, stream_partition, stream_tag)
  )`,
  `create table if not exists RAW.LOAD_SWEEPS (
    topic varchar not null primary key,
    swept_at timestamp_tz not null
  )`,
  ...["QUOTES", "TRADES"].map(rejectedTable),
  // COPY's target. Transient (no fail-safe copies of rows that live for one
  // load); only ever deleted from, so COPY keeps its load history.
  `create transient table if not exists ${STAGED} (
    v variant,
    file_name varchar not null,
    file_row_number integer not null
  )`,
  "create file format if not exists RAW.LAKE_JSON type = json compression = gzip",
];

/**
 * Discovery's marks of a topic's newest marked day and the lookback before it
 * (binds: topic, days, topic).
 */
export const MARKS = `
select to_varchar(landing_day, 'YYYY-MM-DD') as landing_day, stream_partition, stream_tag, last_key
from RAW.LOAD_MARKS
where topic = ?
  and landing_day >= dateadd(day, -?, (select max(landing_day) from RAW.LOAD_MARKS where topic = ?))`;

/** Whether a topic's prefix was swept (bind: topic). */
export const SWEPT =
  "select count(*) as swept from RAW.LOAD_SWEEPS where topic = ?";

/**
 * Moves marks forward, never back (binds: topic, the marks as a JSON array of
 * `{day, partition, tag, key}`, the time).
 */
export const SAVE_MARKS = `
merge into RAW.LOAD_MARKS as m
using (
  select ? as topic, value:day::date as landing_day, value:partition::integer as stream_partition,
    value:tag::varchar as stream_tag, value:key::varchar as last_key
  from table(flatten(input => parse_json(?)))
) as s
on m.topic = s.topic and m.landing_day = s.landing_day and m.stream_partition = s.stream_partition
  and m.stream_tag = s.stream_tag
when matched and s.last_key > m.last_key then update set last_key = s.last_key, updated_at = ?::timestamp_tz
when not matched then insert (topic, landing_day, stream_partition, stream_tag, last_key, updated_at)
  values (s.topic, s.landing_day, s.stream_partition, s.stream_tag, s.last_key, ?::timestamp_tz)`;

/** Records a topic's sweep (binds: topic, the time). */
export const SAVE_SWEEP = `
merge into RAW.LOAD_SWEEPS as w using (select ? as topic) as s on w.topic = s.topic
when not matched then insert (topic, swept_at) values (s.topic, ?::timestamp_tz)`;

/**
 * The candidate keys the ledger does not hold (binds: the keys as a JSON
 * array, the least and the greatest of them, which prune the ledger's
 * micro-partitions).
 */
export const UNLOADED = `
select value::varchar as file_name from table(flatten(input => parse_json(?)))
where value::varchar not in (select file_name from RAW.LOAD_LEDGER where file_name between ? and ?)`;

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

/** A staged line holds all its stream coordinates. */
const HAS_COORDINATES = `stream_id is not null and stream_id <> ''
    and stream_topic is not null and stream_topic <> ''
    and stream_partition >= 0 and stream_offset >= 0 and stream_timestamp_ms >= 0`;

/**
 * Staged lines whose coordinates name other events (binds: keys, and the
 * least and greatest offset the batch's names give, which prune RAW's
 * micro-partitions).
 */
export function clashesSql(kind: EventKind): string {
  return `
with ${BATCH},
clashing as (
  select staged.stream_id, staged.stream_topic, staged.stream_partition, staged.stream_offset
  from staged
  join ${raw(kind)} as loaded
    on loaded.stream_id = staged.stream_id
    and loaded.stream_topic = staged.stream_topic
    and loaded.stream_partition = staged.stream_partition
    and loaded.stream_offset = staged.stream_offset
  where loaded.stream_offset between ? and ?
    and to_json(loaded.v) <> to_json(staged.v)
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
}

/** Lines without coordinates go to the reject table (binds: keys, time). */
export function rejectSql(kind: EventKind): string {
  return `
insert into ${rejected(kind)}
with ${BATCH}
select file_name, file_row_number, coalesce(to_json(v), ''), '_stream',
  left(coalesce(to_json(v:"_stream"), 'null'), 80),
  'must hold the stream coordinates {id, topic, partition, offset, timestamp}',
  ?::timestamp_tz
from staged
where not (${HAS_COORDINATES})
  and not exists (
    select 1 from ${rejected(kind)} as rejected
    where rejected.file_name = staged.file_name
      and rejected.line_number = staged.file_row_number
  )`;
}

/**
 * What COPY refused (malformed JSON), one row per file with its first error
 * and count: COPY with a transformation cannot be VALIDATEd line by line
 * (binds: refusals as JSON, time).
 */
export function rejectCopiedSql(kind: EventKind): string {
  return `
insert into ${rejected(kind)}
select refusal.value:file::varchar, refusal.value:line::integer, '', 'event', '',
  refusal.value:rule::varchar, ?::timestamp_tz
from table(flatten(input => parse_json(?))) as refusal`;
}

/**
 * New coordinates into RAW, each once: a row is skipped when a loaded range
 * of its partition holds its offset, or, on a backfill's reload, when RAW
 * holds its coordinates (so rows deleted from RAW come back). Binds: keys,
 * time, and the least and greatest offset of the batch's names.
 */
export function insertSql(kind: EventKind, reload: boolean): string {
  const loaded = reload
    ? `select 1 from ${raw(kind)} as loaded
    where loaded.stream_id = staged.stream_id
      and loaded.stream_topic = staged.stream_topic
      and loaded.stream_partition = staged.stream_partition
      and loaded.stream_offset = staged.stream_offset`
    : `select 1 from RAW.LOADED_RANGES as loaded
    where loaded.stream_id = staged.stream_id
      and loaded.stream_topic = staged.stream_topic
      and loaded.stream_partition = staged.stream_partition
      and staged.stream_offset between loaded.first_offset and loaded.last_offset`;
  const bounds = reload
    ? "loaded.stream_offset between ? and ?"
    : "loaded.last_offset >= ? and loaded.first_offset <= ?";
  return `
insert into ${raw(kind)}
with ${BATCH}
select v, stream_id, stream_topic, stream_partition, stream_offset,
  to_timestamp_tz(stream_timestamp_ms, 3), file_name, ?::timestamp_tz
from staged
where ${HAS_COORDINATES}
  and not exists (
    ${loaded}
      and ${bounds}
  )
qualify row_number() over (
  partition by stream_id, stream_topic, stream_partition, stream_offset
  order by file_name, file_row_number
) = 1`;
}

/**
 * The runs of consecutive offsets this load inserted, per object, into the
 * loaded ranges (binds: time, time).
 */
export function rangesSql(kind: EventKind): string {
  return `
insert into RAW.LOADED_RANGES
select stream_id, stream_topic, stream_partition, min(stream_offset), max(stream_offset),
  file_name, ?::timestamp_tz
from (
  select stream_id, stream_topic, stream_partition, stream_offset, file_name,
    stream_offset - row_number() over (
      partition by stream_id, stream_topic, stream_partition, file_name order by stream_offset
    ) as island
  from ${raw(kind)}
  where loaded_at = ?::timestamp_tz
)
group by stream_id, stream_topic, stream_partition, file_name, island`;
}

/** Rows this load inserted, and lines it refused, per file (binds: time, time). */
export function countsSql(kind: EventKind): string {
  return `
select file_name, sum(inserted) as inserted, sum(rejected) as rejected from (
  select file_name, 1 as inserted, 0 as rejected
  from ${raw(kind)} where loaded_at = ?::timestamp_tz
  union all
  select file_name, 0, 1
  from ${rejected(kind)} where rejected_at = ?::timestamp_tz
)
group by file_name`;
}

/** One ledger row per object not in the ledger yet (binds: entries as JSON, time). */
export const LEDGER = `
insert into RAW.LOAD_LEDGER
select entry.value:file::varchar, entry.value:size::bigint, entry.value:rows::integer,
  entry.value:inserted::integer, entry.value:duplicate::integer, entry.value:rejected::integer,
  ?::timestamp_tz
from table(flatten(input => parse_json(?))) as entry
where not exists (
  select 1 from RAW.LOAD_LEDGER as ledger where ledger.file_name = entry.value:file::varchar
)`;

/** The batch's lines leave the staging table (bind: keys); DELETE keeps COPY's history. */
export const CLEAR = `delete from ${STAGED}
where file_name in (select value::varchar from table(flatten(input => parse_json(?))))`;

/**
 * RAW's offsets of one log's topic as runs of consecutive offsets per
 * partition, with their rows (binds: stream id, topic).
 */
export function inventoryRawSql(kind: EventKind): string {
  return `select p, min(o) as first_offset, max(o) as last_offset, count(*) as n
from (
  select stream_partition as p, stream_offset as o,
    stream_offset - dense_rank() over (partition by stream_partition order by stream_offset) as run
  from ${raw(kind)} where stream_id = ? and stream_topic = ?
)
group by p, run
order by p, first_offset`;
}

/** Offsets the loader refused, where the refused line names them (binds: stream id, topic). */
export function inventoryRejectedSql(kind: EventKind): string {
  return `select p, o from (
  select try_parse_json(line):"_stream" as stream,
    try_to_number(stream:"partition"::varchar) as p,
    try_to_number(stream:"offset"::varchar) as o
  from ${rejected(kind)}
)
where stream:"id"::varchar = ? and stream:"topic"::varchar = ? and p is not null and o is not null`;
}

/** Whether dbt has built the model silver_reconciliation (1 relation). */
export const SILVER_BUILT = `select count(*) as n from information_schema.tables
where table_schema = '${SILVER_RECONCILIATION.schema.toUpperCase()}'
  and table_name = '${SILVER_RECONCILIATION.name.toUpperCase()}'`;

/**
 * Silver's side of one log, as the dbt model silver_reconciliation counts
 * it, in one pass over the model (binds: id and topic three times, then the
 * kind).
 */
export const INVENTORY_SILVER = `select
  coalesce(sum(case when stream_id = ? and stream_topic = ? then silver_row_count end), 0) as silver_rows,
  coalesce(sum(case when stream_id = ? and stream_topic = ? then quarantined_row_count end), 0) as quarantined,
  coalesce(sum(case when stream_id = ? and stream_topic = ? then lost_row_count end), 0) as lost,
  coalesce(max(case when event_kind = ? then duplicated_row_count end), 0) as duplicated
from ${SILVER_RECONCILIATION.schema.toUpperCase()}.${SILVER_RECONCILIATION.name.toUpperCase()}`;

/** Whether dbt has built the model gold_latest_kpi (1 relation). */
export const GOLD_LATEST_BUILT =
  `select count(*) as n from information_schema.tables
where table_schema = '${GOLD_LATEST_KPI.schema.toUpperCase()}'
  and table_name = '${GOLD_LATEST_KPI.name.toUpperCase()}'`;

/**
 * Each symbol's latest quote in gold_latest_kpi: symbol, price, quote time
 * in epoch seconds, day open, day high, day low, previous close.
 */
export const LATEST_QUOTES =
  `select symbol, price, date_part(epoch_second, quote_ts) as t,
  day_open, day_high, day_low, prev_close
from ${GOLD_LATEST_KPI.schema.toUpperCase()}.${GOLD_LATEST_KPI.name.toUpperCase()}`;

/** The tables of RAW, silver and gold, as lower-case `schema.table`: what `deno task status` may read. */
export const STATUS_TABLES =
  `select lower(table_schema) || '.' || lower(table_name) as name
from information_schema.tables
where table_schema in ('RAW', 'SILVER', 'GOLD')`;

/**
 * Each partition's newest loaded offset of one log's topic and when it was
 * loaded, from the loaded ranges (binds: stream id, topic).
 */
export const STATUS_LOADED =
  `select stream_partition as p, max(last_offset) as last_offset,
  date_part(epoch_millisecond, max(loaded_at)) as loaded_ms
from RAW.LOADED_RANGES
where stream_id = ? and stream_topic = ?
group by stream_partition
order by stream_partition`;

/**
 * The newest stream timestamp, in epoch ms, of one log's rows loaded at or
 * after a time (binds: stream id, topic, epoch ms): pruning skips the
 * micro-partitions of earlier loads.
 */
export function statusRawEventSql(kind: EventKind): string {
  return `select date_part(epoch_millisecond, max(stream_timestamp)) as t
from ${raw(kind)}
where stream_id = ? and stream_topic = ? and loaded_at >= to_timestamp_tz(?::number, 3)`;
}

/** A layer table's newest `transformed_at`, in epoch ms (`table` from LAYER_TABLES). */
export function statusNewestSql(table: string): string {
  return `select date_part(epoch_millisecond, max(transformed_at)) as t from ${table.toUpperCase()}`;
}

/** The lines the loader refused of one kind, by field and rule. */
export function statusRejectedSql(kind: EventKind): string {
  return `select reason_field as field, reason_rule as rule, count(*) as n
from ${rejected(kind)}
group by reason_field, reason_rule
order by n desc, field, rule`;
}
