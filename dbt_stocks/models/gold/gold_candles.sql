{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'timeframe', 'bucket_start'],
        on_schema_change='fail'
    )
}}

{#-
    1m candles come from silver quotes; each coarser timeframe rolls up the
    one before it (label, the bucket of a finer candle {t}, finer label). A
    1d candle is one trading_date (the date in the exchange's time zone,
    silver), its bucket_start that date at midnight; every finer bucket lies
    inside one trading_date (the seed's zones are whole hours from UTC).
-#}
{%- set rollups = [
    ('5m', time_bucket_start('{t}.bucket_start', 5, 'minute'), '1m'),
    ('1h', time_bucket_start('{t}.bucket_start', 1, 'hour'), '5m'),
    ('1d', 'cast({t}.trading_date as timestamp)', '1h'),
] %}
{%- set columns = [
    'symbol', 'timeframe', 'bucket_start', 'trading_date', 'open', 'high', 'low', 'close',
    'quote_count', 'first_quote_ts', 'last_quote_ts', 'return_count',
    'log_return_sum_e12', 'log_return_sq_sum_e24', 'loaded_at', 'transformed_at',
] %}

{%- if is_incremental() %}
    {%- do require_columns(this, columns) %}
    {%- set changes = gold_change_window(ref('silver_clean_stock_quotes')) %}
{%- endif %}

with

quotes as (

    select symbol, quote_ts, trading_date, price, loaded_at, transformed_at
    from {{ ref('silver_clean_stock_quotes') }}

    {% if is_incremental() %}
    -- every quote of a rebuilt minute is on or after the earliest changed minute
    where quote_ts >= {{ changes.first_minute }}
    {% endif %}

),

{% if is_incremental() %}

-- the minutes of the silver rows written since this model last ran: new
-- quotes, late quotes, newer fetches
touched_minutes as (

    select distinct
        symbol,
        {{ time_bucket_start('quote_ts', 1, 'minute') }} as bucket_start,
        trading_date
    from quotes
    where transformed_at > {{ changes.changed_after }}

),

-- the candles held for the touched symbols from the earliest changed hour
-- on, and their 1h candles from the UTC day before the earliest changed one
-- on (a trading_date starts at most a day before its UTC date): every candle a
-- rebuilt bucket rolls up, and the close before each rebuilt minute (the
-- previous minute with quotes, or before the hour, the previous 1h candle's)
current_candles as (

    select {{ columns | join(', ') }}
    from {{ this }}
    where bucket_start >= {{ changes.first_hour }}
        and symbol in (select symbol from touched_minutes)

    union all

    select {{ columns | join(', ') }}
    from {{ this }}
    where bucket_start >= {{ dbt.dateadd('day', -1, changes.first_day) }}
        and bucket_start < {{ changes.first_hour }}
        and timeframe = '1h'
        and symbol in (select symbol from touched_minutes)

),

-- a minute's first return starts from the close of the symbol's previous
-- minute with quotes that trading_date: the minute after a touched one is rebuilt too
minute_sequence as (

    select symbol, bucket_start, trading_date, max(is_touched) as is_touched
    from (
        select symbol, bucket_start, trading_date, 1 as is_touched from touched_minutes
        union all
        select symbol, bucket_start, trading_date, 0 as is_touched
        from current_candles
        where timeframe = '1m'
    ) as minutes
    group by symbol, bucket_start, trading_date

),

rebuilt_minutes as (

    select symbol, bucket_start
    from (
        select
            symbol,
            bucket_start,
            is_touched,
            lag(is_touched) over (
                partition by symbol, trading_date
                order by bucket_start
            ) as follows_touched
        from minute_sequence
    ) as sequenced
    where is_touched = 1 or follows_touched = 1

),

-- every silver quote of the rebuilt minutes, old ones included
minute_quotes as (

    select quotes.*
    from quotes
    inner join rebuilt_minutes
        on quotes.symbol = rebuilt_minutes.symbol
        and {{ time_bucket_start('quotes.quote_ts', 1, 'minute') }} = rebuilt_minutes.bucket_start

),

{% else %}

minute_quotes as (

    select * from quotes

),

{% endif %}

-- log return of each quote against the previous quote of its minute
minute_returns as (

    select
        symbol,
        {{ time_bucket_start('quote_ts', 1, 'minute') }} as bucket_start,
        trading_date,
        quote_ts,
        price,
        loaded_at,
        transformed_at,
        {{ scaled_log_return('price', 'lag(price) over (partition by symbol, '
            ~ time_bucket_start('quote_ts', 1, 'minute') ~ ' order by quote_ts)') }} as log_return_e12
    from minute_quotes

),

-- silver has one row per (symbol, quote_ts), so first and last are unambiguous
minute_candles as (

    select
        symbol,
        '1m' as timeframe,
        bucket_start,
        min(trading_date) as trading_date,
        min_by(price, quote_ts) as open,
        max(price) as high,
        min(price) as low,
        max_by(price, quote_ts) as close,
        count(*) as quote_count,
        min(quote_ts) as first_quote_ts,
        max(quote_ts) as last_quote_ts,
        count(log_return_e12) as return_count,
        cast(coalesce(sum(cast(log_return_e12 as decimal(37, 0))), 0) as decimal(37, 0)) as log_return_sum_e12,
        cast(coalesce(sum({{ exact_square('log_return_e12') }}), 0) as decimal(37, 0)) as log_return_sq_sum_e24,
        max(loaded_at) as loaded_at,
        max(transformed_at) as transformed_at
    from minute_returns
    group by symbol, bucket_start

),

-- the 1m candles held from the earliest changed hour on, rebuilt ones in
-- place of the held ones; before that hour, its day's 1h candles, whose
-- close is the close of their last minute
day_minutes as (

    select minute_candles.*, 1 as is_rebuilt
    from minute_candles

    {% if is_incremental() %}
    union all
    select current_candles.*, 0 as is_rebuilt
    from current_candles
    where (timeframe = '1m'
            and not exists (
                select 1 from minute_candles
                where minute_candles.symbol = current_candles.symbol
                    and minute_candles.bucket_start = current_candles.bucket_start
            ))
        or (timeframe = '1h' and bucket_start < {{ changes.first_hour }})
    {% endif %}

),

-- each minute's first return: from the close of the symbol's previous
-- minute with quotes, the same trading_date (none for the date's first minute)
bridged as (

    select
        day_minutes.*,
        {{ scaled_log_return('open', 'lag(close) over (partition by symbol, trading_date order by bucket_start)') }} as bridge_e12
    from day_minutes

),

candles_1m as (

    select
        symbol,
        timeframe,
        bucket_start,
        trading_date,
        open,
        high,
        low,
        close,
        quote_count,
        first_quote_ts,
        last_quote_ts,
        return_count + case when bridge_e12 is null then 0 else 1 end as return_count,
        cast(log_return_sum_e12 + coalesce(bridge_e12, 0) as decimal(37, 0)) as log_return_sum_e12,
        cast(log_return_sq_sum_e24 + coalesce({{ exact_square('bridge_e12') }}, 0) as decimal(37, 0))
            as log_return_sq_sum_e24,
        loaded_at,
        transformed_at
    from bridged
    where is_rebuilt = 1

),

{% for label, bucket, finer in rollups %}

-- {{ label }}: the buckets of the rebuilt {{ finer }} candles, each from all of its {{ finer }} candles
children_{{ label }} as (

    select * from candles_{{ finer }}

    {% if is_incremental() %}
    union all
    select current_candles.*
    from current_candles
    where timeframe = '{{ finer }}'
        and not exists (
            select 1 from candles_{{ finer }}
            where candles_{{ finer }}.symbol = current_candles.symbol
                and candles_{{ finer }}.bucket_start = current_candles.bucket_start
        )
        and exists (
            select 1 from candles_{{ finer }}
            where candles_{{ finer }}.symbol = current_candles.symbol
                and {{ bucket | replace('{t}', 'candles_' ~ finer) }}
                    = {{ bucket | replace('{t}', 'current_candles') }}
        )
    {% endif %}

),

candles_{{ label }} as (

    select
        symbol,
        '{{ label }}' as timeframe,
        {{ bucket | replace('{t}', 'children_' ~ label) }} as bucket_start,
        min(trading_date) as trading_date,
        min_by(open, first_quote_ts) as open,
        max(high) as high,
        min(low) as low,
        max_by(close, last_quote_ts) as close,
        cast(sum(quote_count) as bigint) as quote_count,
        min(first_quote_ts) as first_quote_ts,
        max(last_quote_ts) as last_quote_ts,
        cast(sum(return_count) as bigint) as return_count,
        cast(sum(cast(log_return_sum_e12 as decimal(37, 0))) as decimal(37, 0)) as log_return_sum_e12,
        cast(sum(cast(log_return_sq_sum_e24 as decimal(37, 0))) as decimal(37, 0)) as log_return_sq_sum_e24,
        max(loaded_at) as loaded_at,
        max(transformed_at) as transformed_at
    from children_{{ label }}
    group by symbol, {{ bucket | replace('{t}', 'children_' ~ label) }}

),

{% endfor %}

final as (

    {% for label in ['1m', '5m', '1h', '1d'] %}
    select {{ columns | join(', ') }} from candles_{{ label }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
