{#-
    loaded_since_watermark(column, watermark_relation): the where-condition
    of an incremental run: column later than max(column) in
    watermark_relation (default {{ this }}), less var silver_lookback_hours
    (loads that commit late are read again; the models are idempotent over
    them). Without a watermark relation (not built yet) every row qualifies.

    A real run reads the bound first and inlines it as a literal: the
    warehouse can then skip old RAW rows before the bronze view parses their
    JSON (DuckDB keeps a subquery comparison above the view's projection, so
    it would parse every RAW row on every run). In a unit test {{ this }} is a
    fixture CTE that cannot be queried beforehand, so the same bound is
    computed in a subquery instead.
-#}
{% macro loaded_since_watermark(column='loaded_at', watermark_relation=none) -%}
    {%- set relation = this if watermark_relation is none else watermark_relation -%}
    {%- set bound_sql = dbt.dateadd(
        'hour',
        -1 * var('silver_lookback_hours'),
        "coalesce(max(" ~ column ~ "), cast('1900-01-01' as timestamp))"
    ) -%}
    {%- if not execute -%}
        1 = 1
    {%- elif model.resource_type == 'unit_test' -%}
        {{ column }} > (select {{ bound_sql }} from {{ relation }})
    {%- else -%}
        {%- set result = run_query('select ' ~ bound_sql ~ ' as bound from ' ~ relation) -%}
        {%- set bound = result.columns[0].values()[0] -%}
        {{ column }} > cast('{{ bound }}' as timestamp)
    {%- endif -%}
{%- endmacro %}
