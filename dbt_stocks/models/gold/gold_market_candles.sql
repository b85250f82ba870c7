{{ config(materialized='view') }}

{#-
    The candles to chart: trade candles where the symbol has trades that
    trading_date, else quote candles of the timeframes no shorter than the
    symbol's sampling interval (gold_latest_kpi.quote_sampling_seconds) and
    every 1d quote candle. A view: it holds no rows of its own, and a query
    filtered on symbol and timeframe reads only those candles.
-#}

with

trade_candles as (

    select
        symbol,
        timeframe,
        bucket_start,
        trading_date,
        open,
        high,
        low,
        close,
        volume,
        vwap,
        trade_count,
        cast(null as bigint) as quote_count,
        'trades' as basis,
        transformed_at
    from {{ ref('gold_trade_candles') }}

),

-- the symbols' trading dates with trades (every trade is in a 1h candle)
trade_dates as (

    select distinct symbol, trading_date
    from {{ ref('gold_trade_candles') }}
    where timeframe = '1h'

),

quote_candles as (

    select
        candles.symbol,
        candles.timeframe,
        candles.bucket_start,
        candles.trading_date,
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        cast(null as decimal(38, 8)) as volume,
        cast(null as double) as vwap,
        cast(null as bigint) as trade_count,
        candles.quote_count,
        'quotes' as basis,
        candles.transformed_at
    from {{ ref('gold_candles') }} as candles
    left join {{ ref('gold_latest_kpi') }} as kpi
        on candles.symbol = kpi.symbol
    where (
            candles.timeframe = '1d'
            or case candles.timeframe
                when '1m' then 60
                when '5m' then 300
                when '1h' then 3600
            end >= kpi.quote_sampling_seconds
        )
        and not exists (
            select 1
            from trade_dates
            where trade_dates.symbol = candles.symbol
                and trade_dates.trading_date = candles.trading_date
        )

),

final as (

    select * from trade_candles
    union all
    select * from quote_candles

)

select * from final
