{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'timeframe', 'bucket_start'],
        on_schema_change='fail'
    )
}}

{#-
    Trade candles: 1m candles from silver trades with volume > 0, and 5m, 1h
    and 1d candles rolled up from the 1m ones (exact: volume and turnover are
    decimals). A 1d candle holds the 1m candles of its trading_date inside
    the exchange's regular session (seeds trading_sessions; whole minutes,
    so a 1m candle is wholly in or out), or the whole trading_date for an
    exchange without sessions (24-hour crypto venues).
-#}
{%- set rollups = [
    ('5m', time_bucket_start('bucket_start', 5, 'minute')),
    ('1h', time_bucket_start('bucket_start', 1, 'hour')),
    ('1d', 'day_start'),
] %}

{%- if is_incremental() %}
    {%- set changes = gold_change_window(ref('silver_clean_stock_trades'), event_column='trade_ts', upstream_filter='volume > 0') %}
{%- endif %}

with

-- v = 0 prints are price updates, not trades: no candle counts them
trades as (

    select
        symbol, exchange, trading_date, trade_ts, price, volume, conditions,
        stream_id, stream_topic, stream_partition, stream_offset, loaded_at, transformed_at,
        {{ time_bucket_start('trade_ts', 1, 'minute') }} as bucket_start
    from {{ ref('silver_clean_stock_trades') }}
    where volume > 0

    {% if is_incremental() %}
    -- every trade of a rebuilt minute is on or after the earliest changed minute
    and trade_ts >= {{ changes.first_minute }}
    {% endif %}

),

{% if is_incremental() %}

-- the minutes of the silver rows written since this model last ran
touched_minutes as (

    select distinct symbol, bucket_start
    from trades
    where transformed_at > {{ changes.changed_after }}

),

minute_trades as (

    select trades.*
    from trades
    inner join touched_minutes
        on trades.symbol = touched_minutes.symbol
        and trades.bucket_start = touched_minutes.bucket_start

),

{% else %}

minute_trades as (

    select * from trades

),

{% endif %}

ordered as (

    select
        minute_trades.*,
        row_number() over (
            partition by symbol, bucket_start order by {{ trade_order() }}
        ) as first_rank,
        row_number() over (
            partition by symbol, bucket_start
            order by trade_ts desc, stream_id desc, stream_topic desc, stream_partition desc, stream_offset desc
        ) as last_rank,
        -- 2 and up: a print identical to an earlier one (same symbol, p, v, t, c)
        row_number() over (
            partition by symbol, trade_ts, price, volume, conditions
            order by stream_id, stream_topic, stream_partition, stream_offset
        ) as print_rank
    from minute_trades

),

candles_1m as (

    select
        symbol,
        max(exchange) as exchange,
        '1m' as timeframe,
        bucket_start,
        min(trading_date) as trading_date,
        max(case when first_rank = 1 then price end) as open,
        max(price) as high,
        min(price) as low,
        max(case when last_rank = 1 then price end) as close,
        cast(sum(cast(volume as decimal(38, 8))) as decimal(38, 8)) as volume,
        cast(sum(cast(round(price * volume, 8) as decimal(38, 8))) as decimal(38, 8)) as turnover,
        cast(count(*) as bigint) as trade_count,
        cast(sum(case when print_rank > 1 then 1 else 0 end) as bigint) as identical_prints,
        min(trade_ts) as first_trade_ts,
        max(trade_ts) as last_trade_ts,
        max(loaded_at) as loaded_at,
        max(transformed_at) as transformed_at
    from ordered
    group by symbol, bucket_start

),

-- every 1m candle a rebuilt bucket rolls up: the rebuilt ones, and in an
-- incremental run those held for the touched symbols from the day before
-- the earliest changed trade on (a trading date starts at most a day
-- before its UTC date)
all_minutes as (

    select symbol, exchange, bucket_start, trading_date, open, high, low, close, volume, turnover,
        trade_count, identical_prints, first_trade_ts, last_trade_ts, loaded_at, transformed_at
    from candles_1m

    {% if is_incremental() %}
    union all
    select symbol, exchange, bucket_start, trading_date, open, high, low, close, volume, turnover,
        trade_count, identical_prints, first_trade_ts, last_trade_ts, loaded_at, transformed_at
    from {{ this }} as held
    where timeframe = '1m'
        and bucket_start >= {{ dbt.dateadd('day', -1, changes.first_day) }}
        and symbol in (select symbol from touched_minutes)
        and not exists (
            select 1 from candles_1m
            where candles_1m.symbol = held.symbol
                and candles_1m.bucket_start = held.bucket_start
        )
    {% endif %}

),

exchanges as (

    select distinct exchange, has_sessions from {{ ref('exchange_symbols') }}

),

-- each minute with the start of its 1d candle, or null outside the
-- regular session (pre- and post-market, weekends, holidays)
minutes as (

    select
        all_minutes.*,
        case
            when not exchanges.has_sessions then cast(all_minutes.trading_date as timestamp)
            when all_minutes.bucket_start >= sessions.open_utc
                and all_minutes.bucket_start < sessions.close_utc then sessions.open_utc
        end as day_start
    from all_minutes
    inner join exchanges
        on all_minutes.exchange = exchanges.exchange
    left join {{ ref('trading_sessions') }} as sessions
        on all_minutes.exchange = sessions.exchange
        and all_minutes.trading_date = sessions.trading_date

),

{% for label, bucket in rollups %}

-- {{ label }}: every bucket holding a rebuilt minute, from all of its minutes
children_{{ label }} as (

    select minutes.*, {{ bucket }} as rollup_start
    from minutes
    where {{ bucket }} is not null

),

touched_{{ label }} as (

    select distinct children_{{ label }}.symbol, children_{{ label }}.rollup_start
    from children_{{ label }}
    inner join candles_1m
        on children_{{ label }}.symbol = candles_1m.symbol
        and children_{{ label }}.bucket_start = candles_1m.bucket_start

),

candles_{{ label }} as (

    select
        children.symbol,
        max(children.exchange) as exchange,
        '{{ label }}' as timeframe,
        children.rollup_start as bucket_start,
        min(children.trading_date) as trading_date,
        min_by(children.open, children.first_trade_ts) as open,
        max(children.high) as high,
        min(children.low) as low,
        max_by(children.close, children.last_trade_ts) as close,
        cast(sum(children.volume) as decimal(38, 8)) as volume,
        cast(sum(children.turnover) as decimal(38, 8)) as turnover,
        cast(sum(children.trade_count) as bigint) as trade_count,
        cast(sum(children.identical_prints) as bigint) as identical_prints,
        min(children.first_trade_ts) as first_trade_ts,
        max(children.last_trade_ts) as last_trade_ts,
        max(children.loaded_at) as loaded_at,
        max(children.transformed_at) as transformed_at
    from children_{{ label }} as children
    inner join touched_{{ label }}
        on children.symbol = touched_{{ label }}.symbol
        and children.rollup_start = touched_{{ label }}.rollup_start
    group by children.symbol, children.rollup_start

),

{% endfor %}

unioned as (

    {% for label in ['1m', '5m', '1h', '1d'] %}
    select
        symbol, exchange, timeframe, bucket_start, trading_date, open, high, low, close, volume, turnover,
        trade_count, identical_prints, first_trade_ts, last_trade_ts, loaded_at, transformed_at
    from candles_{{ label }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        symbol, exchange, timeframe, bucket_start, trading_date, open, high, low, close, volume, turnover,
        -- sum(p * v) / sum(v)
        round(cast(turnover as double) / cast(volume as double), 6) as vwap,
        trade_count, identical_prints, first_trade_ts, last_trade_ts, loaded_at, transformed_at
    from unioned

)

select * from final
