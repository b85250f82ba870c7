{#-
    json_field(column, field, data_type): one top-level field of a JSON
    document, cast to data_type (a name both dialects accept: varchar,
    double, bigint). A missing key, a JSON null or a value that does not
    convert to data_type gives null.
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
    {#- the landed line is a variant and the quoted path is case-sensitive. ::varchar unquotes a string and renders a number as text (a JSON null gives null); a variant cast straight to a number fails the query on a value of the wrong type, so the text goes through try_cast (which takes only text) to give null, like duckdb. -#}
    {%- set document = column -%}
    {%- if model is defined and model.resource_type == 'unit_test' -%}
        {#- a unit test's dict fixture reaches a variant column as cast('<json text>' as variant), a variant holding a string, not an object (dbt-snowflake does not parse it), and a path into a string is null: parse it here. An object renders as its json text, so this holds for either. -#}
        {%- set document = 'parse_json(' ~ column ~ '::varchar)' -%}
    {%- endif -%}
    {%- if data_type | lower in ('varchar', 'string', 'text') -%}
        {{ document }}:"{{ field }}"::varchar
    {%- else -%}
        try_cast({{ document }}:"{{ field }}"::varchar as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
