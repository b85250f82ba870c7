{#-
    get_where_subquery(relation): dbt's own filter of a generic data test's
    model by the test's `where` config, with the placeholder
    __transformed_recently__ resolved (dbt_project.yml sets it on every
    data test):

    - var data_test_window_minutes set, and the tested model documents a
      transformed_at column: transformed_at on or after the run's start
      less that many minutes, a literal, so the test reads the rows this
      run and the runs just before it wrote (a scan filter on a column that
      grows with every run: the warehouse skips older rows by their zone
      maps);
    - otherwise no filter: the whole table.

    A `where` of the test's own is kept, and-ed with the window.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') or '' -%}
    {%- if '__transformed_recently__' in where -%}
        {%- set where = where | replace('__transformed_recently__', data_test_window_condition()) -%}
    {%- endif -%}
    {%- if where and where != '1 = 1' -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{#- The window condition of the tested model, or 1 = 1 (see get_where_subquery). -#}
{% macro data_test_window_condition() -%}
    {%- set minutes = var('data_test_window_minutes', none) -%}
    {%- if minutes is none or not execute -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if tested is none or 'transformed_at' not in tested.columns -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set started = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)" -%}
    {{ return('transformed_at >= ' ~ dbt.dateadd('minute', -1 * (minutes | int), started)) }}
{%- endmacro %}
