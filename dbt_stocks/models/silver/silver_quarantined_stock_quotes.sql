{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['stream_id', 'stream_topic', 'stream_partition', 'stream_offset'],
        on_schema_change='fail'
    )
}}

{#-
    The watermark is silver_clean_stock_quotes' (which runs after this model:
    it depends on it), so both read the same loads of bronze. This model's
    own max(loaded_at) would be a poor watermark: invalid rows are rare, so
    it would lag and the window would grow with RAW.
-#}
{%- set silver = none %}
{%- if execute and model.resource_type != 'unit_test' %}
    {%- set silver = adapter.get_relation(
        database=this.database,
        schema=this.schema,
        identifier='silver_clean_stock_quotes'
    ) %}
{%- endif %}

with

quotes as (

    select * from {{ ref('bronze_stg_stock_quotes') }}

    {% if is_incremental() and silver is not none %}
    where {{ loaded_since_watermark('loaded_at', silver, source_relation=ref('bronze_stg_stock_quotes')) }}
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
        stream_id,
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
