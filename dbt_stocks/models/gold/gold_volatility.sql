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
    {%- set changes = gold_change_window(ref('gold_candles'), event_column='bucket_start', upstream_filter="timeframe = '1d'") %}
{%- endif %}

with

-- the 1d candles carry each day's quote count and the exact sums of its
-- log returns (every return between consecutive quotes of the day)
daily_candles as (

    select * from {{ ref('gold_candles') }}
    where timeframe = '1d'

    {% if is_incremental() %}
    -- the days candles rebuilt since this model last ran
    and bucket_start >= {{ changes.first_day }}
    and transformed_at > {{ changes.changed_after }}
    {% endif %}

),

daily as (

    select
        symbol,
        cast(bucket_start as date) as quote_date,
        quote_count,
        return_count,
        {{ volatility_from_sums('return_count', 'log_return_sum_e12', 'log_return_sq_sum_e24') }}
            as realized_volatility,
        loaded_at,
        transformed_at
    from daily_candles

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
        current_days.loaded_at,
        current_days.transformed_at
    from {{ this }} as current_days
    where current_days.symbol in (select symbol from daily)
        and not exists (
            select 1
            from daily
            where daily.symbol = current_days.symbol
                and daily.quote_date = current_days.quote_date
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
        loaded_at,
        transformed_at
    from rolling
    where window_touched = 1

)

select * from final
