{#-
    The exchange and time zone of a symbol, and the trading date of a UTC
    timestamp in that zone (seeds/exchange_symbols.csv): a symbol with an
    exchange prefix before ':' (BINANCE:BTCUSDT) takes the seed's row of
    that prefix; any other symbol, and a prefix the seed does not list,
    takes the default row (symbol_prefix '*': US listings, XNYS, New York).
-#}

{#- symbol_prefix(symbol): the upper-cased text before ':', or null without one. -#}
{% macro symbol_prefix(symbol) -%}
    case when position(':' in {{ symbol }}) > 1 then upper(split_part({{ symbol }}, ':', 1)) end
{%- endmacro %}


{#-
    with_exchange(relation, symbol): select relation.* plus exchange,
    time_zone, has_sessions and returns_per_year of each row's symbol (a
    query, for a CTE body).
-#}
{% macro with_exchange(relation, symbol='symbol') -%}
    select
        with_exchange_rows.*,
        coalesce(listed.exchange, fallback.exchange) as exchange,
        coalesce(listed.time_zone, fallback.time_zone) as time_zone,
        coalesce(listed.has_sessions, fallback.has_sessions) as has_sessions,
        coalesce(listed.returns_per_year, fallback.returns_per_year) as returns_per_year
    from {{ relation }} as with_exchange_rows
    left join {{ ref('exchange_symbols') }} as listed
        on listed.symbol_prefix = {{ symbol_prefix('with_exchange_rows.' ~ symbol) }}
    cross join (
        select * from {{ ref('exchange_symbols') }} where symbol_prefix = '*'
    ) as fallback
{%- endmacro %}


{#- trading_date(ts, time_zone): the calendar date of a UTC timestamp (no time zone) in time_zone (an IANA name, a column or a literal). -#}
{% macro trading_date(ts, time_zone) -%}
    cast({{ utc_to_local(ts, time_zone) }} as date)
{%- endmacro %}


{#- utc_to_local(ts, time_zone): a UTC wall-clock timestamp as the wall clock of time_zone, no time zone. -#}
{% macro utc_to_local(ts, time_zone) -%}
    {{ return(adapter.dispatch('utc_to_local', 'dbt_stocks')(ts, time_zone)) }}
{%- endmacro %}

{% macro default__utc_to_local(ts, time_zone) -%}
    (({{ ts }}) at time zone 'UTC') at time zone {{ time_zone }}
{%- endmacro %}

{% macro duckdb__utc_to_local(ts, time_zone) -%}
    {#- timezone('UTC', timestamp) reads the value as UTC (a timestamptz); timezone(zone, timestamptz) gives that zone's wall clock. -#}
    timezone({{ time_zone }}, timezone('UTC', {{ ts }}))
{%- endmacro %}

{% macro snowflake__utc_to_local(ts, time_zone) -%}
    {#- the three-argument form converts a timestamp_ntz from one zone to another and returns a timestamp_ntz. -#}
    convert_timezone('UTC', {{ time_zone }}, {{ ts }})
{%- endmacro %}
