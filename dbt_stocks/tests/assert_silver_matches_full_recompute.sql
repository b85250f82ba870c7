{{ config(tags=['reconciliation', 'daily']) }}

-- silver_clean_stock_quotes, however incrementally built, must equal a
-- from-scratch run over all of bronze: the same (symbol, quote_ts) keys, each
-- with the same winning fetch (the same bronze row: the full stream
-- coordinate, stream_id included). Returns the rows that differ.

with

bronze as (

    select * from {{ ref('bronze_stg_stock_quotes') }}

),

valid as (

    select * from bronze
    where {{ quote_rejection_reason() }} is null

),

ranked as (

    select
        valid.*,
        row_number() over (
            partition by symbol, quote_ts
            order by {{ newest_fetch_order() }}
        ) as fetch_rank
    from valid

),

expected as (

    select symbol, quote_ts, fetched_at, stream_id, stream_topic, stream_partition, stream_offset
    from ranked
    where fetch_rank = 1

),

actual as (

    select symbol, quote_ts, fetched_at, stream_id, stream_topic, stream_partition, stream_offset
    from {{ ref('silver_clean_stock_quotes') }}

),

missing_from_silver as (

    select 'missing_from_silver' as problem, differing.*
    from (select * from expected except select * from actual) as differing

),

unexpected_in_silver as (

    select 'unexpected_in_silver' as problem, differing.*
    from (select * from actual except select * from expected) as differing

),

final as (

    select * from missing_from_silver
    union all
    select * from unexpected_in_silver

)

select * from final
