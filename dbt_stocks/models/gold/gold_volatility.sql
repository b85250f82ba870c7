{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'quote_date'],
        on_schema_change='fail'
    )
}}

{#-
    Realized volatility per symbol and trading_date from fixed-interval
    returns: the log returns between the closes (last price) of consecutive
    5m candles of the trading date in gold_candles, annualized by the square
    root of the exchange's 5-minute returns per year (seed exchange_symbols:
    252 x 78 for a 6.5-hour session, 365 x 288 for 24-hour venues). Each
    return is a whole number of 1e-12 (scaled_log_return), so the sums, and
    the figure, do not depend on how or in how many runs they were built.
-#}
{%- set window_days = var('volatility_rolling_days') | int %}

{%- if is_incremental() %}
    {%- do require_columns(this, ['bucket_count', 'return_count', 'annualized_volatility']) %}
    {%- set changes = gold_change_window(ref('gold_candles'), event_column='bucket_start', upstream_filter="timeframe = '5m'") %}
{%- endif %}

with

candles as (

    select symbol, trading_date, bucket_start, close, quote_count, loaded_at, transformed_at
    from {{ ref('gold_candles') }}
    where timeframe = '5m'

    {% if is_incremental() %}
    -- a touched trading date starts at most a day before its UTC date
    and bucket_start >= {{ dbt.dateadd('day', -1, changes.first_day) }}
    {% endif %}

),

{% if is_incremental() %}

-- the trading dates of the 5m candles rebuilt since this model last ran
touched_days as (

    select distinct symbol, trading_date
    from candles
    where transformed_at > {{ changes.changed_after }}

),

day_candles as (

    select candles.*
    from candles
    inner join touched_days
        on candles.symbol = touched_days.symbol
        and candles.trading_date = touched_days.trading_date

),

{% else %}

day_candles as (

    select * from candles

),

{% endif %}

-- the return into each 5m bucket from the previous bucket with quotes of
-- the same trading date (none for the date's first bucket)
returns as (

    select
        day_candles.*,
        {{ scaled_log_return('close', 'lag(close) over (partition by symbol, trading_date order by bucket_start)') }}
            as log_return_e12
    from day_candles

),

sums as (

    select
        symbol,
        trading_date as quote_date,
        cast(sum(quote_count) as bigint) as quote_count,
        cast(count(*) as bigint) as bucket_count,
        cast(count(log_return_e12) as bigint) as return_count,
        cast(coalesce(sum(cast(log_return_e12 as decimal(37, 0))), 0) as decimal(37, 0)) as log_return_sum_e12,
        cast(coalesce(sum({{ exact_square('log_return_e12') }}), 0) as decimal(37, 0)) as log_return_sq_sum_e24,
        max(loaded_at) as loaded_at,
        max(transformed_at) as transformed_at
    from returns
    group by symbol, trading_date

),

with_exchange as (

    {{ with_exchange('sums') }}

),

daily as (

    select
        symbol,
        quote_date,
        quote_count,
        bucket_count,
        return_count,
        {{ volatility_from_sums('return_count', 'log_return_sum_e12', 'log_return_sq_sum_e24') }}
            as realized_volatility,
        round(
            {{ volatility_from_sums('return_count', 'log_return_sum_e12', 'log_return_sq_sum_e24') }}
                * sqrt(returns_per_year),
            8
        ) as annualized_volatility,
        loaded_at,
        transformed_at
    from with_exchange

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
        current_days.bucket_count,
        current_days.return_count,
        current_days.realized_volatility,
        current_days.annualized_volatility,
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
        avg(annualized_volatility) over (
            partition by symbol
            order by quote_date
            rows between {{ window_days - 1 }} preceding and current row
        ) as rolling_avg_volatility,
        count(annualized_volatility) over (
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
        bucket_count,
        return_count,
        realized_volatility,
        annualized_volatility,
        round(rolling_avg_volatility, 8) as rolling_avg_volatility,
        rolling_day_count,
        loaded_at,
        transformed_at
    from rolling
    where window_touched = 1

)

select * from final
