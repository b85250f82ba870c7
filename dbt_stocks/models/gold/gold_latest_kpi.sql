{#-
    A table rebuilt on every run from gold_candles' 1d candles (one row per
    symbol and day) and one silver row per symbol: the day figures are the
    latest 1d candle's, so they are the daily candle's by construction, and
    the previous close is the close of the 1d candle before it. Silver is
    read only from the oldest of the symbols' latest quotes on (a literal
    bound, read first), to find each latest quote's own row.
-#}
{#-
    Trades, where a symbol has any: the last trade price (the newest print
    by trade time then stream coordinate, v = 0 price updates included)
    and the day's volume, VWAP and trade count from the symbol's 1d trade
    candle of the same trading_date (the regular session). Silver trades are
    read from the oldest of the symbols' newest 1m trade candles on (a
    literal bound, read first). The quotes' sampling interval comes from the
    1h candles of each symbol's latest trading_date.
-#}
{%- set candles = ref('gold_candles') %}
{%- set trade_candles = ref('gold_trade_candles') %}
{%- if execute and model.resource_type != 'unit_test' and load_relation(candles) is none %}
    {#- gold_candles not built yet (dbt compile or docs on a new warehouse): nothing to read -#}
    {%- set oldest_latest_quote = 'cast(null as timestamp)' %}
{%- else %}
    {%- set oldest_latest_quote = gold_bound(
        'select min(last_quote_ts) from (select max(last_quote_ts) as last_quote_ts from '
        ~ candles ~ " where timeframe = '1d' group by symbol) as latest"
    ) %}
{%- endif %}
{%- if execute and model.resource_type != 'unit_test' and load_relation(trade_candles) is none %}
    {%- set oldest_latest_trade = 'cast(null as timestamp)' %}
{%- else %}
    {%- set oldest_latest_trade = gold_bound(
        'select min(bucket_start) from (select max(bucket_start) as bucket_start from '
        ~ trade_candles ~ " where timeframe = '1m' group by symbol) as latest"
    ) %}
{%- endif %}

with

daily_candles as (

    select * from {{ ref('gold_candles') }}
    where timeframe = '1d'

),

ranked_days as (

    select
        daily_candles.*,
        row_number() over (partition by symbol order by bucket_start desc) as recency_rank
    from daily_candles

),

latest_day as (

    select * from ranked_days
    where recency_rank = 1

),

previous_day as (

    select * from ranked_days
    where recency_rank = 2

),

-- the silver row of each symbol's latest quote (the close of its latest day)
latest_quotes as (

    select quotes.*
    from {{ ref('silver_clean_stock_quotes') }} as quotes
    inner join latest_day
        on quotes.symbol = latest_day.symbol
        and quotes.quote_ts = latest_day.last_quote_ts
    where quotes.quote_ts >= {{ oldest_latest_quote }}

),

-- how often the symbol's quotes are sampled: the median over the latest
-- trading_date's 1h candles holding two quotes or more of the mean spacing of
-- their quotes (gaps between hours, when the producer stopped, do not count)
quote_sampling as (

    select
        hourly.symbol,
        median({{ dbt.datediff('hourly.first_quote_ts', 'hourly.last_quote_ts', 'millisecond') }}
            / 1000.0 / (hourly.quote_count - 1)) as quote_sampling_seconds
    from {{ candles }} as hourly
    inner join latest_day
        on hourly.symbol = latest_day.symbol
        and hourly.trading_date = latest_day.trading_date
    where hourly.timeframe = '1h'
        and hourly.quote_count >= 2
        -- a trading_date starts at most a day before its UTC date
        and hourly.bucket_start >= {{ dbt.dateadd('day', -1, '(select cast(min(trading_date) as timestamp) from latest_day)') }}
    group by hourly.symbol

),

-- each symbol's newest print, from the start of its newest 1m trade candle on
latest_trades as (

    select symbol, trade_ts, price
    from (
        select
            symbol,
            trade_ts,
            price,
            row_number() over (
                partition by symbol
                order by trade_ts desc, stream_id desc, stream_topic desc, stream_partition desc, stream_offset desc
            ) as recency_rank
        from {{ ref('silver_clean_stock_trades') }}
        where trade_ts >= {{ oldest_latest_trade }}
    ) as ranked
    where recency_rank = 1

),

-- the regular session: the 1d trade candle of the trading date
day_trades as (

    select symbol, trading_date, volume, vwap, trade_count
    from {{ trade_candles }}
    where timeframe = '1d'
        and trading_date >= (select min(trading_date) from latest_day)

),

-- every trade of the trading date, pre- and post-market included: its 1h
-- candles (a UTC hour lies within one trading date, the zones' offsets being
-- whole hours)
all_hours_trades as (

    select
        symbol,
        trading_date,
        cast(sum(volume) as decimal(38, 8)) as volume,
        round(cast(sum(turnover) as double) / cast(nullif(sum(volume), 0) as double), 6) as vwap,
        cast(sum(trade_count) as bigint) as trade_count
    from {{ trade_candles }}
    where timeframe = '1h'
        and trading_date >= (select min(trading_date) from latest_day)
    group by symbol, trading_date

),

-- each exchange's time zone (seed exchange_symbols), the clock a reader
-- shows the symbol's times in
exchange_zones as (

    select distinct exchange, time_zone from {{ ref('exchange_symbols') }}

),

final as (

    select
        latest_day.symbol,
        latest_quotes.exchange,
        exchange_zones.time_zone,
        latest_quotes.quote_ts,
        latest_quotes.fetched_at,
        latest_day.trading_date,
        -- the same trading_date, under its former name
        latest_day.trading_date as quote_date,
        latest_quotes.price,
        -- no earlier day in the warehouse: the previous close the quote reports
        coalesce(previous_day.close, latest_quotes.prev_close) as prev_close,
        latest_quotes.price - coalesce(previous_day.close, latest_quotes.prev_close) as change_abs,
        100 * (latest_quotes.price - coalesce(previous_day.close, latest_quotes.prev_close))
            / coalesce(previous_day.close, latest_quotes.prev_close) as change_pct,
        -- the exchange's official open, as the latest quote reports it (o)
        latest_quotes.open as day_open,
        latest_day.high as day_high,
        latest_day.low as day_low,
        latest_day.first_quote_ts as day_first_quote_ts,
        latest_quotes.price - latest_quotes.open as change_since_open_abs,
        100 * (latest_quotes.price - latest_quotes.open) / latest_quotes.open as change_since_open_pct,
        latest_day.quote_count as day_quote_count,
        latest_quotes.source,
        quote_sampling.quote_sampling_seconds,
        latest_trades.price as last_trade_price,
        latest_trades.trade_ts as last_trade_ts,
        day_trades.volume as day_volume,
        day_trades.vwap as day_vwap,
        day_trades.trade_count as day_trade_count,
        all_hours_trades.volume as all_hours_volume,
        all_hours_trades.vwap as all_hours_vwap,
        all_hours_trades.trade_count as all_hours_trade_count
    from latest_day
    inner join latest_quotes
        on latest_day.symbol = latest_quotes.symbol
    left join previous_day
        on latest_day.symbol = previous_day.symbol
    left join quote_sampling
        on latest_day.symbol = quote_sampling.symbol
    left join latest_trades
        on latest_day.symbol = latest_trades.symbol
    left join day_trades
        on latest_day.symbol = day_trades.symbol
        and latest_day.trading_date = day_trades.trading_date
    left join all_hours_trades
        on latest_day.symbol = all_hours_trades.symbol
        and latest_day.trading_date = all_hours_trades.trading_date
    left join exchange_zones
        on latest_quotes.exchange = exchange_zones.exchange

)

select * from final
