{#-
    trade_rejection_reason(): for a bronze_stg_stock_trades row, the first
    rule it breaks, or null when the trade is clean. silver_clean_stock_trades
    keeps the rows where it is null. The rules mirror the loader's validator
    (lib/contract/trade.ts), which refuses such lines before RAW: silver
    re-checks them, like silver quotes do.
-#}
{% macro trade_rejection_reason() -%}
    case
        when symbol is null or trim(symbol) = '' then 'missing_symbol'
        when price is null then 'missing_price'
        when price <= 0 then 'non_positive_price'
        when price > {{ var('max_price') }} then 'price_above_max'
        when volume is null then 'missing_volume'
        when volume < 0 then 'negative_volume'
        when volume > {{ var('max_trade_volume') }} then 'volume_above_max'
        when fetched_at is null then 'missing_fetched_at'
        when trade_ts is null or trade_time_ms < {{ var('min_trade_time_ms') }} then 'missing_trade_ts'
        when trade_ts > {{ dbt.dateadd('second', var('max_clock_skew_seconds'), 'fetched_at') }}
            then 'trade_ts_after_fetched_at'
    end
{%- endmacro %}

{#- The columns of silver_clean_stock_trades, in order. -#}
{% macro silver_trade_columns() -%}
    {{ return([
        'symbol',
        'trade_ts',
        'price',
        'volume',
        'conditions',
        'exchange',
        'trading_date',
        'fetched_at',
        'source',
        'stream_id',
        'stream_topic',
        'stream_partition',
        'stream_offset',
        'stream_timestamp',
        'file_name',
        'loaded_at',
    ]) }}
{%- endmacro %}

{#- The order of trades within a symbol: trade time, then the stream coordinate (total, deterministic). -#}
{% macro trade_order(prefix='') -%}
    {{ prefix }}trade_ts, {{ prefix }}stream_id, {{ prefix }}stream_topic, {{ prefix }}stream_partition, {{ prefix }}stream_offset
{%- endmacro %}

{#-
    json_array_text(column, field): a top-level JSON array field as its
    compact JSON text ('["1","12"]'), null when missing: comparable across
    rows (identical prints compare it).
-#}
{% macro json_array_text(column, field) -%}
    {{ return(adapter.dispatch('json_array_text', 'dbt_stocks')(column, field)) }}
{%- endmacro %}

{% macro default__json_array_text(column, field) -%}
    cast({{ column }} -> '{{ field }}' as varchar)
{%- endmacro %}

{% macro duckdb__json_array_text(column, field) -%}
    {#- json_extract returns the value as JSON, rendered compact as text. -#}
    cast(json_extract({{ column }}, '$.{{ field }}') as varchar)
{%- endmacro %}

{% macro snowflake__json_array_text(column, field) -%}
    {%- set document = column -%}
    {%- if model is defined and model.resource_type == 'unit_test' -%}
        {%- set document = 'parse_json(' ~ column ~ '::varchar)' -%}
    {%- endif -%}
    to_json({{ document }}:"{{ field }}")
{%- endmacro %}
