{#-
    A table rebuilt on every run, but from the latest days only: each
    symbol's latest quote and the rest of its UTC day lie on or after the
    start of the oldest of those days, read first (a grouped max), so the
    rebuild reads about a day of silver whatever the length of the history.
-#}
{%- set first_latest_day = gold_latest_day_start(ref('silver_clean_stock_quotes')) %}

with

quotes as (

    select * from {{ ref('silver_clean_stock_quotes') }}
    where quote_ts >= {{ first_latest_day }}

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

latest_day as (

    select
        symbol,
        min_by(price, quote_ts) as day_first_price,
        min(quote_ts) as day_first_quote_ts,
        count(*) as day_quote_count
    from latest_day_quotes
    group by symbol

),

final as (

    select
        latest.symbol,
        latest.quote_ts,
        latest.fetched_at,
        latest.quote_date,
        latest.price,
        latest.prev_close,
        latest.change_abs,
        latest.change_pct,
        latest_day.day_first_quote_ts,
        latest_day.day_first_price,
        latest.price - latest_day.day_first_price as change_since_day_first_abs,
        100 * (latest.price - latest_day.day_first_price) / latest_day.day_first_price
            as change_since_day_first_pct,
        latest.open as day_open,
        latest.high as day_high,
        latest.low as day_low,
        latest_day.day_quote_count,
        latest.source
    from latest
    inner join latest_day
        on latest.symbol = latest_day.symbol

)

select * from final
