-- gold_latest_kpi's figures of a day must be those of the symbol's 1d candle
-- of that trading_date in gold_candles: day high and low, the latest price
-- as the close so far, and the day's quote count (not the open: the KPI's
-- is the exchange's official open, the quote's o); and its previous close must
-- be the close of the symbol's previous 1d candle, when there is one.
-- Returns one row per symbol that disagrees, with both sides.

with

kpis as (

    select * from {{ ref('gold_latest_kpi') }}

),

daily_candles as (

    select * from {{ ref('gold_candles') }}
    where timeframe = '1d'

),

same_day as (

    select
        kpis.symbol,
        kpis.quote_date,
        kpis.day_open,
        kpis.day_high,
        kpis.day_low,
        kpis.price,
        kpis.day_quote_count,
        kpis.prev_close,
        daily_candles.open as candle_open,
        daily_candles.high as candle_high,
        daily_candles.low as candle_low,
        daily_candles.close as candle_close,
        daily_candles.quote_count as candle_quote_count
    from kpis
    left join daily_candles
        on kpis.symbol = daily_candles.symbol
        and cast(daily_candles.bucket_start as date) = kpis.quote_date

),

previous_day as (

    select
        kpis.symbol,
        max_by(daily_candles.close, daily_candles.bucket_start) as candle_prev_close
    from kpis
    inner join daily_candles
        on kpis.symbol = daily_candles.symbol
        and cast(daily_candles.bucket_start as date) < kpis.quote_date
    group by kpis.symbol

),

compared as (

    select
        same_day.*,
        previous_day.candle_prev_close
    from same_day
    left join previous_day
        on same_day.symbol = previous_day.symbol

)

select * from compared
where candle_open is null
    or day_high <> candle_high
    or day_low <> candle_low
    or price <> candle_close
    or day_quote_count <> candle_quote_count
    or prev_close <> coalesce(candle_prev_close, prev_close)
