with

kpis as (

    select * from {{ ref('gold_latest_kpi') }}

),

volatility as (

    select * from {{ ref('gold_volatility') }}

),

-- the most recent day with a volatility figure (a day needs two returns)
latest_volatility as (

    select
        symbol,
        quote_date,
        annualized_volatility,
        row_number() over (partition by symbol order by quote_date desc) as recency_rank
    from volatility
    where annualized_volatility is not null

),

final as (

    select
        kpis.symbol,
        kpis.price,
        kpis.change_abs,
        kpis.change_pct,
        latest_volatility.annualized_volatility as volatility,
        latest_volatility.quote_date as volatility_date,
        kpis.quote_ts
    from kpis
    left join latest_volatility
        on kpis.symbol = latest_volatility.symbol
        and latest_volatility.recency_rank = 1

)

select * from final
