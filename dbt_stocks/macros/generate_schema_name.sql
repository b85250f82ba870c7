{#-
    A model's +schema is used verbatim (raw, bronze, silver, gold), not
    prefixed with the target schema as dbt does by default. Nodes without a
    custom schema land in the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
