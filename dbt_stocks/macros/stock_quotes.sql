{#-
    quote_rejection_reason(): for a bronze_stg_stock_quotes row, the first
    rule it breaks, or null when the quote is clean. silver_clean_stock_quotes
    keeps the rows where it is null, silver_quarantined_stock_quotes the
    others. The rules and their order mirror the loader's validator
    (lib/contract/quote.ts), so that both sides agree on what a valid quote is.
-#}
{% macro quote_rejection_reason() -%}
    case
        when symbol is null or trim(symbol) = '' then 'missing_symbol'
        when quote_ts is null then 'missing_quote_ts'
        when fetched_at is null then 'missing_fetched_at'
        when price is null or open is null or high is null or low is null or prev_close is null
            then 'missing_price'
        when price <= 0 or open <= 0 or high <= 0 or low <= 0 or prev_close <= 0
            then 'non_positive_price'
        when greatest(price, open, high, low, prev_close) > {{ var('max_price') }}
            then 'price_above_max'
        when low > high then 'low_above_high'
        when change_abs is null or change_pct is null then 'missing_change'
        when quote_ts > {{ dbt.dateadd('second', var('max_clock_skew_seconds'), 'fetched_at') }}
            then 'quote_ts_after_fetched_at'
    end
{%- endmacro %}

{#- The columns of silver_clean_stock_quotes, in order (the incremental union needs them spelt out). -#}
{% macro silver_quote_columns() -%}
    {{ return([
        'symbol',
        'quote_ts',
        'price',
        'open',
        'high',
        'low',
        'prev_close',
        'change_abs',
        'change_pct',
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

{#- Window order that picks the winning fetch of one (symbol, quote_ts): the
    newest fetched_at; on a tie the first landed copy, so that a replayed file
    (same events, new stream coordinates) never changes silver. The last keys
    are the full stream coordinate (stream_id first: offsets are only unique
    within one log), so the order is total and the winner deterministic. -#}
{% macro newest_fetch_order() -%}
    fetched_at desc, loaded_at asc, stream_id asc, stream_topic asc, stream_partition asc, stream_offset asc
{%- endmacro %}
