{#-
    Fails for every combination of the given columns that occurs on more
    than one row (the grain of a model spanning several columns).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set column_list = combination_of_columns | join(', ') %}

with

grouped as (

    select
        {{ column_list }},
        count(*) as row_count
    from {{ model }}
    group by {{ column_list }}

),

duplicates as (

    select * from grouped
    where row_count > 1

)

select * from duplicates

{% endtest %}
