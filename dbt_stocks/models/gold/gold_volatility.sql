{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'quote_date'],
        on_schema_change='fail'
    )
}}

{%- set window_days = var('volatility_rolling_days') | int %}

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

-- the (symbol, UTC day)s of silver rows new or replaced since this model
-- last ran (its newest loaded_at, less the lookback)
touched_days as (

    select distinct symbol, cast(quote_ts as date) as quote_date
    from quotes
    where loaded_at > {{ changes.loaded_after }}

),

-- every silver quote of those days, old ones included: a day's figure is
-- recomputed from all of its quotes
scoped_quotes as (

    select quotes.symbol, quotes.quote_ts, quotes.price, quotes.loaded_at
    from quotes
    inner join touched_days
        on quotes.symbol = touched_days.symbol
        and cast(quotes.quote_ts as date) = touched_days.quote_date

),

{% else %}

scoped_quotes as (

    select symbol, quote_ts, price, loaded_at
    from quotes

),

{% endif %}

-- log return of each quote against the previous quote of the same symbol
-- and UTC day; the first quote of a day has none (no return across days)
returns as (

    select
        symbol,
        cast(quote_ts as date) as quote_date,
        quote_ts,
        loaded_at,
        ln(price / lag(price) over (
            partition by symbol, cast(quote_ts as date)
            order by quote_ts
        )) as log_return
    from scoped_quotes

),

-- rounded to 10 decimals: beyond that it is float noise, and exact figures
-- keep the unit tests exact and an incremental run equal to a full rebuild
-- (the rolling mean below averages these rounded figures either way)
daily as (

    select
        symbol,
        quote_date,
        count(*) as quote_count,
        count(log_return) as return_count,
        round(stddev_samp(log_return), 10) as realized_volatility,
        max(loaded_at) as loaded_at
    from returns
    group by symbol, quote_date

),

{% if is_incremental() %}

-- the rolling window counts days in rows: it needs every day of a touched
-- symbol, the days this model already holds (one row per symbol and day)
-- together with the recomputed ones
kept_days as (

    select
        current_days.symbol,
        current_days.quote_date,
        current_days.quote_count,
        current_days.return_count,
        current_days.realized_volatility,
        current_days.loaded_at
    from {{ this }} as current_days
    where current_days.symbol in (select symbol from touched_days)
        and not exists (
            select 1
            from touched_days
            where touched_days.symbol = current_days.symbol
                and touched_days.quote_date = current_days.quote_date
        )

),

symbol_days as (

    select daily.*, 1 as is_touched from daily
    union all
    select kept_days.*, 0 as is_touched from kept_days

),

{% else %}

symbol_days as (

    select daily.*, 1 as is_touched from daily

),

{% endif %}

rolling as (

    select
        symbol_days.*,
        avg(realized_volatility) over (
            partition by symbol
            order by quote_date
            rows between {{ window_days - 1 }} preceding and current row
        ) as rolling_avg_volatility,
        count(realized_volatility) over (
            partition by symbol
            order by quote_date
            rows between {{ window_days - 1 }} preceding and current row
        ) as rolling_day_count,
        -- 1 when a recomputed day is in this day's window: its rolling
        -- figures may have changed (always 1 in a full rebuild)
        max(is_touched) over (
            partition by symbol
            order by quote_date
            rows between {{ window_days - 1 }} preceding and current row
        ) as window_touched
    from symbol_days

),

final as (

    select
        symbol,
        quote_date,
        quote_count,
        return_count,
        realized_volatility,
        round(rolling_avg_volatility, 10) as rolling_avg_volatility,
        rolling_day_count,
        loaded_at
    from rolling
    where window_touched = 1

)

select * from final
