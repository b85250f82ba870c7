{{ config(materialized='view') }}

{#-
    The silver side of `deno task reconcile`, defined here once so that every
    warehouse (the DuckDB and the Snowflake loader) reads the same rules, for
    each kind of event. A bronze quote is lost when it was loaded before
    silver's last build and its quote is neither in silver nor quarantined; a
    bronze trade, when it was loaded before the last build of silver's trades
    and its stream coordinate is not in silver while it breaks no rule (a
    trade that breaks one is counted quarantined). Rows loaded after those
    builds are pending, not lost.
-#}

with

bronze as (

    select * from {{ ref('bronze_stg_stock_quotes') }}

),

clean as (

    select * from {{ ref('silver_clean_stock_quotes') }}

),

quarantined as (

    select * from {{ ref('silver_quarantined_stock_quotes') }}

),

bronze_trades as (

    select
        *,
        {{ trade_rejection_reason() }} as rejection_reason
    from {{ ref('bronze_stg_stock_trades') }}

),

clean_trades as (

    select * from {{ ref('silver_clean_stock_trades') }}

),

trades_built as (

    select max(loaded_at) as built_until from clean_trades

),

lost_trades as (

    select
        bronze_trades.stream_id,
        bronze_trades.stream_topic
    from bronze_trades
    cross join trades_built
    where bronze_trades.loaded_at <= trades_built.built_until
        and bronze_trades.rejection_reason is null
        and not exists (
            select 1 from clean_trades
            where clean_trades.stream_id = bronze_trades.stream_id
                and clean_trades.stream_topic = bronze_trades.stream_topic
                and clean_trades.stream_partition = bronze_trades.stream_partition
                and clean_trades.stream_offset = bronze_trades.stream_offset
        )

),

duplicated_trades as (

    select
        count(*) - (
            select count(*)
            from (
                select distinct stream_id, stream_topic, stream_partition, stream_offset
                from clean_trades
            ) as coordinates
        ) as duplicated_row_count
    from clean_trades

),

built as (

    select max(loaded_at) as built_until
    from (
        select loaded_at from clean
        union all
        select loaded_at from quarantined
    ) as silver_rows

),

lost as (

    select
        bronze.stream_id,
        bronze.stream_topic
    from bronze
    cross join built
    where bronze.loaded_at <= built.built_until
        and not exists (
            select 1 from clean
            where clean.symbol = bronze.symbol
                and clean.quote_ts = bronze.quote_ts
        )
        and not exists (
            select 1 from quarantined
            where quarantined.stream_id = bronze.stream_id
                and quarantined.stream_topic = bronze.stream_topic
                and quarantined.stream_partition = bronze.stream_partition
                and quarantined.stream_offset = bronze.stream_offset
        )

),

duplicated as (

    select
        count(*) - (
            select count(*)
            from (select distinct symbol, quote_ts from clean) as quotes
        ) as duplicated_row_count
    from clean

),

outcomes as (

    select 'quotes' as event_kind, stream_id, stream_topic, 'silver' as outcome
    from clean
    union all
    select 'quotes', stream_id, stream_topic, 'quarantined'
    from quarantined
    union all
    select 'quotes', stream_id, stream_topic, 'lost'
    from lost
    union all
    select 'trades', stream_id, stream_topic, 'silver'
    from clean_trades
    union all
    select 'trades', stream_id, stream_topic, 'quarantined'
    from bronze_trades
    where rejection_reason is not null
    union all
    select 'trades', stream_id, stream_topic, 'lost'
    from lost_trades

),

counted as (

    select
        event_kind,
        stream_id,
        stream_topic,
        count(case when outcome = 'silver' then 1 end) as silver_row_count,
        count(case when outcome = 'quarantined' then 1 end) as quarantined_row_count,
        count(case when outcome = 'lost' then 1 end) as lost_row_count
    from outcomes
    group by event_kind, stream_id, stream_topic

),

final as (

    select
        counted.event_kind,
        counted.stream_id,
        counted.stream_topic,
        counted.silver_row_count,
        counted.quarantined_row_count,
        counted.lost_row_count,
        case
            when counted.event_kind = 'quotes' then duplicated.duplicated_row_count
            else duplicated_trades.duplicated_row_count
        end as duplicated_row_count
    from counted
    cross join duplicated
    cross join duplicated_trades

)

select * from final
