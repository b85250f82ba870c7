{#- timeframe label, bucket length, bucket unit -#}
{%- set timeframes = [
    ('1m', 1, 'minute'),
    ('5m', 5, 'minute'),
    ('1h', 1, 'hour'),
    ('1d', 1, 'day'),
] %}

with

quotes as (

    select * from {{ ref('silver_clean_stock_quotes') }}

),

bucketed as (

    {% for label, count, unit in timeframes %}
    select
        symbol,
        '{{ label }}' as timeframe,
        {{ time_bucket_start('quote_ts', count, unit) }} as bucket_start,
        quote_ts,
        price
    from quotes
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- silver has one row per (symbol, quote_ts), so first and last are unambiguous
candles as (

    select
        symbol,
        timeframe,
        bucket_start,
        min_by(price, quote_ts) as open,
        max(price) as high,
        min(price) as low,
        max_by(price, quote_ts) as close,
        count(*) as quote_count
    from bucketed
    group by symbol, timeframe, bucket_start

),

final as (

    select
        symbol,
        timeframe,
        bucket_start,
        open,
        high,
        low,
        close,
        quote_count
    from candles

)

select * from final
