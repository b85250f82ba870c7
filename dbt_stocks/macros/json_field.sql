{#-
    json_field(column, field, data_type): one top-level field of a JSON
    document, cast to data_type (a name both dialects accept: varchar,
    double, bigint). A missing key or a JSON null gives null.
-#}
{% macro json_field(column, field, data_type='varchar') -%}
    {{ return(adapter.dispatch('json_field', 'dbt_stocks')(column, field, data_type)) }}
{%- endmacro %}

{% macro default__json_field(column, field, data_type) -%}
    {#- postgres-style ->> returns the field as text, which any type can be cast from. -#}
    cast({{ column }} ->> '{{ field }}' as {{ data_type }})
{%- endmacro %}

{% macro duckdb__json_field(column, field, data_type) -%}
    {#- json_extract_string unquotes strings and renders numbers as text; try_cast turns a value of the wrong type into null instead of failing the build. -#}
    try_cast(json_extract_string({{ column }}, '$.{{ field }}') as {{ data_type }})
{%- endmacro %}

{% macro snowflake__json_field(column, field, data_type) -%}
    {#- the landed line is a variant; the quoted path is case-sensitive and :: casts the variant element directly. -#}
    {{ column }}:"{{ field }}"::{{ data_type }}
{%- endmacro %}
