-- The seed trading_sessions is generated for a fixed range of dates (deno
-- task calendar). A date past its last session of the symbol's exchange
-- would quietly get no regular session, so no 1d trade candle and no day
-- volume: each symbol whose exchange has sessions and whose latest
-- trading_date lies past the seed's last session is returned, with that
-- session. Reads one row per symbol (gold_latest_kpi) and the seed.

with

kpis as (

    select symbol, trading_date from {{ ref('gold_latest_kpi') }}

),

with_exchange as (

    {{ with_exchange('kpis') }}

),

last_sessions as (

    select exchange, max(trading_date) as last_session
    from {{ ref('trading_sessions') }}
    group by exchange

)

select
    with_exchange.symbol,
    with_exchange.exchange,
    with_exchange.trading_date,
    last_sessions.last_session
from with_exchange
left join last_sessions
    on with_exchange.exchange = last_sessions.exchange
where with_exchange.has_sessions
    and (last_sessions.last_session is null or with_exchange.trading_date > last_sessions.last_session)
