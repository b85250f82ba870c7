{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'quote_ts'],
        on_schema_change='fail'
    )
}}

-- runs after the quarantine, which reads this model's watermark before it moves:
-- depends_on: {{ ref('silver_quarantined_stock_quotes') }}

{%- set columns = silver_quote_columns() %}
{%- if is_incremental() %}
    {%- do require_columns(this, columns + ['loaded_at', 'transformed_at']) %}
{%- endif %}

with

quotes as (

    select * from {{ ref('bronze_stg_stock_quotes') }}

    {% if is_incremental() %}
    -- only the loads no run has read: those stamped after the newest one
    -- silver holds, and late commits inside the lookback
    where {{ loaded_since_watermark('loaded_at', source_relation=ref('bronze_stg_stock_quotes')) }}
    {% endif %}

),

valid_bronze as (

    select * from quotes
    where {{ quote_rejection_reason() }} is null

),

-- the symbol's exchange (seed exchange_symbols) and the quote's trading
-- date in the exchange's time zone
with_exchange as (

    {{ with_exchange('valid_bronze') }}

),

valid_quotes as (

    select
        {% for column in columns -%}
        {%- if column == 'trading_date' -%}
        {{ trading_date('quote_ts', 'time_zone') }} as trading_date
        {%- else -%}
        {{ column }}
        {%- endif %}{{ ', ' if not loop.last }}
        {% endfor %}
    from with_exchange

),

{% if is_incremental() %}

touched_keys as (

    select distinct symbol, quote_ts from valid_quotes

),

-- delete+insert replaces every touched (symbol, quote_ts): bring the row
-- silver already holds for each into the ranking, so that an older fetch
-- arriving late (or a replay) can never replace a newer one. That row is
-- already the winner of every earlier bronze row of its key.
current_quotes as (

    select {% for column in columns %}current_quotes.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
    from {{ this }} as current_quotes
    inner join touched_keys
        on current_quotes.symbol = touched_keys.symbol
        and current_quotes.quote_ts = touched_keys.quote_ts

),

candidates as (

    select {{ columns | join(', ') }}, 0 as is_current from valid_quotes
    union all
    select {{ columns | join(', ') }}, 1 as is_current from current_quotes

),

{% else %}

candidates as (

    select {{ columns | join(', ') }}, 0 as is_current from valid_quotes

),

{% endif %}

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by symbol, quote_ts
            order by {{ newest_fetch_order() }}, is_current desc
        ) as fetch_rank
    from candidates

),

-- the winners that change silver: a key whose row silver already holds
-- and keeps is not written again, so its transformed_at stays and the gold
-- models do not rebuild its buckets
final as (

    select
        {{ columns | join(', ') }},
        {{ transform_stamp() }} as transformed_at
    from ranked
    where fetch_rank = 1
        and is_current = 0

)

select * from final
