{{ config(materialized='view') }}

{#-
    The silver side of `deno task reconcile`, defined here once so that every
    warehouse (the DuckDB and the Snowflake loader) reads the same rules. A
    bronze row is lost when it was loaded before silver's last build and its
    quote is neither in silver nor quarantined; rows loaded after that build
    are pending, not lost.
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

    select stream_id, stream_topic, 'silver' as outcome
    from clean
    union all
    select stream_id, stream_topic, 'quarantined'
    from quarantined
    union all
    select stream_id, stream_topic, 'lost'
    from lost

),

counted as (

    select
        stream_id,
        stream_topic,
        count(case when outcome = 'silver' then 1 end) as silver_row_count,
        count(case when outcome = 'quarantined' then 1 end) as quarantined_row_count,
        count(case when outcome = 'lost' then 1 end) as lost_row_count
    from outcomes
    group by stream_id, stream_topic

),

final as (

    select
        counted.stream_id,
        counted.stream_topic,
        counted.silver_row_count,
        counted.quarantined_row_count,
        counted.lost_row_count,
        duplicated.duplicated_row_count
    from counted
    cross join duplicated

)

select * from final
