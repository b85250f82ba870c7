{#-
    Fails for every non-null value of column_name outside [min_value,
    max_value] (bounds exclusive when inclusive is false). Either bound may
    be left out.
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

{%- if min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error("accepted_range needs min_value, max_value or both") }}
{%- endif -%}

{%- set lower_op = '>=' if inclusive else '>' %}
{%- set upper_op = '<=' if inclusive else '<' %}

with

checked as (

    select {{ column_name }} as checked_value
    from {{ model }}
    where {{ column_name }} is not null

),

out_of_range as (

    select * from checked
    where not (
        1 = 1
        {%- if min_value is not none %}
        and checked_value {{ lower_op }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        and checked_value {{ upper_op }} {{ max_value }}
        {%- endif %}
    )

)

select * from out_of_range

{% endtest %}
