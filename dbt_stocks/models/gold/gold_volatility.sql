{%- set window_days = var('volatility_rolling_days') | int %}

with

quotes as (

    select * from {{ ref('silver_clean_stock_quotes') }}

),

-- log return of each quote against the previous quote of the same symbol
-- and UTC day; the first quote of a day has none (no return across days)
returns as (

    select
        symbol,
        cast(quote_ts as date) as quote_date,
        quote_ts,
        ln(price / lag(price) over (
            partition by symbol, cast(quote_ts as date)
            order by quote_ts
        )) as log_return
    from quotes

),

daily as (

    select
        symbol,
        quote_date,
        count(*) as quote_count,
        count(log_return) as return_count,
        stddev_samp(log_return) as realized_volatility
    from returns
    group by symbol, quote_date

),

rolling as (

    select
        daily.*,
        avg(realized_volatility) over (
            partition by symbol
            order by quote_date
            rows between {{ window_days - 1 }} preceding and current row
        ) as rolling_avg_volatility,
        count(realized_volatility) over (
            partition by symbol
            order by quote_date
            rows between {{ window_days - 1 }} preceding and current row
        ) as rolling_day_count
    from daily

),

-- rounded to 10 decimals: beyond that it is float noise, and exact figures
-- keep the unit tests exact
final as (

    select
        symbol,
        quote_date,
        quote_count,
        return_count,
        round(realized_volatility, 10) as realized_volatility,
        round(rolling_avg_volatility, 10) as rolling_avg_volatility,
        rolling_day_count
    from rolling

)

select * from final
