{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['stream_id', 'stream_topic', 'stream_partition', 'stream_offset'],
        on_schema_change='fail'
    )
}}

{%- set columns = silver_trade_columns() %}
{%- if is_incremental() %}
    {%- do require_columns(this, columns + ['loaded_at', 'transformed_at']) %}
{%- endif %}

with

trades as (

    select * from {{ ref('bronze_stg_stock_trades') }}

    {% if is_incremental() %}
    -- only the loads no run has read (the same watermark as silver quotes)
    where {{ loaded_since_watermark('loaded_at', source_relation=ref('bronze_stg_stock_trades')) }}
    {% endif %}

),

-- one row per stream coordinate, never fewer: Finnhub gives trades no id,
-- so two prints alike in every field can be two trades
valid_trades as (

    select * from trades
    where {{ trade_rejection_reason() }} is null

),

with_exchange as (

    {{ with_exchange('valid_trades') }}

),

final as (

    select
        {% for column in columns %}
        {%- if column == 'trading_date' -%}
        {{ trading_date('trade_ts', 'time_zone') }} as trading_date,
        {%- else -%}
        {{ column }},
        {%- endif %}
        {% endfor %}
        {{ transform_stamp() }} as transformed_at
    from with_exchange

)

select * from final
