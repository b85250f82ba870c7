{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'timeframe', 'bucket_start'],
        on_schema_change='fail'
    )
}}

{#- timeframe label, bucket length, bucket unit; every bucket lies inside one UTC day -#}
{%- set timeframes = [
    ('1m', 1, 'minute'),
    ('5m', 5, 'minute'),
    ('1h', 1, 'hour'),
    ('1d', 1, 'day'),
] %}

{%- if is_incremental() %}
    {%- set changes = gold_change_window(ref('silver_clean_stock_quotes')) %}
{%- endif %}

with

quotes as (

    select * from {{ ref('silver_clean_stock_quotes') }}

    {% if is_incremental() %}
    -- every row this run can need (the changed rows and the rest of their
    -- days) is on or after the day of the earliest changed row
    where quote_ts >= {{ changes.first_day }}
    {% endif %}

),

{% if is_incremental() %}

-- silver rows new or replaced since this model last ran (its newest
-- loaded_at, less the lookback): new quotes, late quotes, newer fetches
changed_quotes as (

    select symbol, quote_ts
    from quotes
    where loaded_at > {{ changes.loaded_after }}

),

-- the buckets they fall in: the only candles that can change
touched_buckets as (

    {% for label, count, unit in timeframes %}
    select distinct
        symbol,
        '{{ label }}' as timeframe,
        {{ time_bucket_start('quote_ts', count, unit) }} as bucket_start
    from changed_quotes
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

touched_days as (

    select symbol, bucket_start as day_start
    from touched_buckets
    where timeframe = '1d'

),

-- every silver quote of the touched (symbol, day)s, old ones included, so
-- that each touched bucket is recomputed from all of its quotes
scoped_quotes as (

    select quotes.symbol, quotes.quote_ts, quotes.price, quotes.loaded_at
    from quotes
    inner join touched_days
        on quotes.symbol = touched_days.symbol
        and {{ time_bucket_start('quotes.quote_ts', 1, 'day') }} = touched_days.day_start

),

{% else %}

scoped_quotes as (

    select symbol, quote_ts, price, loaded_at
    from quotes

),

{% endif %}

bucketed as (

    {% for label, count, unit in timeframes %}
    select
        symbol,
        '{{ label }}' as timeframe,
        {{ time_bucket_start('quote_ts', count, unit) }} as bucket_start,
        quote_ts,
        price,
        loaded_at
    from scoped_quotes
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{% if is_incremental() %}

-- of the touched days, only the touched buckets
rebuilt_quotes as (

    select bucketed.*
    from bucketed
    inner join touched_buckets
        on bucketed.symbol = touched_buckets.symbol
        and bucketed.timeframe = touched_buckets.timeframe
        and bucketed.bucket_start = touched_buckets.bucket_start

),

{% else %}

rebuilt_quotes as (

    select * from bucketed

),

{% endif %}

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
        count(*) as quote_count,
        max(loaded_at) as loaded_at
    from rebuilt_quotes
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
        quote_count,
        loaded_at
    from candles

)

select * from final
