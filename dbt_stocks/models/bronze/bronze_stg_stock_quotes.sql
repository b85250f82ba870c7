-- renamed reads the source directly, not through a `source as (select * ...)`
-- CTE: behind that CTE DuckDB does not push silver's incremental
-- `loaded_at > <watermark>` filter into the RAW scan, and every run parsed the
-- JSON of all of RAW (measured: 10M-row history, incremental ratio 1.54 -> 1.3).

with

renamed as (

    select
        ----------  quote
        {{ json_field('v', 'symbol', 'varchar') }} as symbol,
        {{ json_field('v', 'c', 'double') }} as price,
        {{ json_field('v', 'o', 'double') }} as open,
        {{ json_field('v', 'h', 'double') }} as high,
        {{ json_field('v', 'l', 'double') }} as low,
        {{ json_field('v', 'pc', 'double') }} as prev_close,
        {{ json_field('v', 'd', 'double') }} as change_abs,
        {{ json_field('v', 'dp', 'double') }} as change_pct,

        ----------  timestamps (UTC, no time zone)
        {{ epoch_to_utc(json_field('v', 't', 'bigint'), 's') }} as quote_ts,
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

    from {{ source('raw', 'source_stock_quotes') }}

)

select * from renamed
