{#-
    Fails for every row where the boolean SQL expression is false or null,
    e.g. expression: "low <= high".
-#}
{% test expression_is_true(model, expression) %}

with

checked as (

    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)

)

select * from checked

{% endtest %}
