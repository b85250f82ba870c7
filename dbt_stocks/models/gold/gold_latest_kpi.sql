{#-
    A table rebuilt on every run, but from the latest days only: each
    symbol's latest quote and the rest of its UTC day lie on or after the
    start of the oldest of those days, read first (a grouped max), so the
    rebuild reads about a day of silver whatever the length of the history.
    The day figures are computed here from those quotes, the way
    gold_candles computes a 1d candle; the previous close is the close of
    the symbol's previous 1d candle, read from gold_candles (one row per
    symbol and day).
-#}
{%- set first_latest_day = gold_latest_day_start(ref('silver_clean_stock_quotes')) %}

with

quotes as (

    select * from {{ ref('silver_clean_stock_quotes') }}
    where quote_ts >= {{ first_latest_day }}

),

daily_candles as (

    select * from {{ ref('gold_candles') }}
    where timeframe = '1d'

),

ranked as (

    select
        quotes.*,
        cast(quote_ts as date) as quote_date,
        row_number() over (partition by symbol order by quote_ts desc) as recency_rank
    from quotes

),

latest as (

    select * from ranked
    where recency_rank = 1

),

-- the quotes of each symbol's latest UTC day
latest_day_quotes as (

    select
        quotes.symbol,
        quotes.quote_ts,
        quotes.price
    from quotes
    inner join latest
        on quotes.symbol = latest.symbol
        and cast(quotes.quote_ts as date) = latest.quote_date

),

-- the day's figures, as its 1d candle has them
latest_day as (

    select
        symbol,
        min_by(price, quote_ts) as day_open,
        max(price) as day_high,
        min(price) as day_low,
        min(quote_ts) as day_first_quote_ts,
        count(*) as day_quote_count
    from latest_day_quotes
    group by symbol

),

-- the close of each symbol's last 1d candle before its latest day
previous_day as (

    select
        daily_candles.symbol,
        max_by(daily_candles.close, daily_candles.bucket_start) as close
    from daily_candles
    inner join latest
        on daily_candles.symbol = latest.symbol
        and cast(daily_candles.bucket_start as date) < latest.quote_date
    group by daily_candles.symbol

),

closes as (

    select
        latest.symbol,
        coalesce(previous_day.close, latest.prev_close) as prev_close
    from latest
    left join previous_day
        on latest.symbol = previous_day.symbol

),

final as (

    select
        latest.symbol,
        latest.quote_ts,
        latest.fetched_at,
        latest.quote_date,
        latest.price,
        closes.prev_close,
        latest.price - closes.prev_close as change_abs,
        100 * (latest.price - closes.prev_close) / closes.prev_close as change_pct,
        latest_day.day_open,
        latest_day.day_high,
        latest_day.day_low,
        latest_day.day_first_quote_ts,
        latest.price - latest_day.day_open as change_since_open_abs,
        100 * (latest.price - latest_day.day_open) / latest_day.day_open
            as change_since_open_pct,
        latest_day.day_quote_count,
        latest.source
    from latest
    inner join latest_day
        on latest.symbol = latest_day.symbol
    inner join closes
        on latest.symbol = closes.symbol

)

select * from final
