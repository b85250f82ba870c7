-- Like bronze_stg_stock_quotes: reads the source directly, so that silver's
-- incremental loaded_at filter reaches the RAW scan before the JSON is parsed.

with

renamed as (

    select
        ----------  trade
        {{ json_field('v', 'symbol', 'varchar') }} as symbol,
        {{ json_field('v', 'p', 'double') }} as price,
        {{ json_field('v', 'v', 'double') }} as volume,
        {{ json_array_text('v', 'c') }} as conditions,

        ----------  timestamps (UTC, no time zone); t is epoch milliseconds
        {{ json_field('v', 't', 'bigint') }} as trade_time_ms,
        {{ epoch_to_utc(json_field('v', 't', 'bigint'), 'ms') }} as trade_ts,
        {{ epoch_to_utc(json_field('v', 'fetched_at', 'bigint'), 'ms') }} as fetched_at,

        ----------  lineage
        {{ json_field('v', 'source', 'varchar') }} as source,
        stream_id,
        stream_topic,
        stream_partition,
        stream_offset,
        {{ to_utc('stream_timestamp') }} as stream_timestamp,
        file_name,
        {{ to_utc('loaded_at') }} as loaded_at

    from {{ source('raw', 'source_stock_trades') }}

)

select * from renamed
