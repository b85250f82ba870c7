{{ config(materialized='view') }}

with

quarantined as (

    select * from {{ ref('silver_quarantined_stock_quotes') }}

),

counted as (

    select
        reason,
        count(*) as row_count,
        count(distinct symbol) as symbol_count,
        min(loaded_at) as first_loaded_at,
        max(loaded_at) as last_loaded_at
    from quarantined
    group by reason

),

final as (

    select * from counted

)

select * from final
