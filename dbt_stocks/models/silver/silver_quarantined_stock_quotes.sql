{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['stream_topic', 'stream_partition', 'stream_offset'],
        on_schema_change='fail'
    )
}}

with

quotes as (

    select * from {{ ref('bronze_stg_stock_quotes') }}

    {% if is_incremental() %}
    where loaded_at > (
        select {{ dbt.dateadd('hour', -1 * var('silver_lookback_hours'), "coalesce(max(loaded_at), cast('1900-01-01' as timestamp))") }}
        from {{ this }}
    )
    {% endif %}

),

judged as (

    select
        quotes.*,
        {{ quote_rejection_reason() }} as reason
    from quotes

),

final as (

    select
        stream_topic,
        stream_partition,
        stream_offset,
        reason,
        symbol,
        quote_ts,
        price,
        open,
        high,
        low,
        prev_close,
        change_abs,
        change_pct,
        fetched_at,
        source,
        stream_timestamp,
        file_name,
        loaded_at
    from judged
    where reason is not null

)

select * from final
