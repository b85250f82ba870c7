{#-
    loaded_since_watermark(column, watermark_relation, source_relation): the
    where-condition on source_relation (bronze) of an incremental silver
    run: the rows no silver run has read yet.

    A load stamps all of its rows with one loaded_at and commits them
    together, so the rows still to read are those of the loads whose stamp
    watermark_relation (default {{ this }}, silver) has not seen: stamps
    later than its newest (W), and stamps from the var
    silver_lookback_minutes before W that it does not hold (a load that
    stamped its rows before W but committed after silver read W: a late
    commit). Stamps of the window that silver holds were read in full and
    are not read again, so a run reads the new rows whatever the lookback.
    A load whose rows all went to the quarantine or all lost to newer
    fetches leaves no stamp in silver and is read again while in the window
    (the models are idempotent over it). Without a watermark (nothing built
    yet) every row qualifies.

    A real run reads W and the unseen stamps first and inlines them as
    literals: the warehouse can then skip old RAW rows before the bronze
    view parses their JSON (DuckDB keeps a subquery comparison above the
    view's projection, so it would parse every RAW row on every run). Past
    max_unseen_stamps unseen stamps (a replay of many small loads) the
    condition is the whole window instead, still correct. In a unit test
    {{ this }} is a fixture CTE that cannot be queried beforehand, so the
    same condition is a subquery.
-#}
{% macro loaded_since_watermark(column='loaded_at', watermark_relation=none, source_relation=none, max_unseen_stamps=500) -%}
    {%- set relation = this if watermark_relation is none else watermark_relation -%}
    {%- if source_relation is none -%}
        {{ exceptions.raise_compiler_error("loaded_since_watermark needs source_relation, the relation the condition filters") }}
    {%- endif -%}
    {%- if not execute -%}
        1 = 1
    {%- elif model.resource_type == 'unit_test' -%}
        {%- set watermark = "(select max(" ~ column ~ ") from " ~ relation ~ ")" -%}
        ({{ column }} > coalesce({{ watermark }}, cast('1900-01-01' as timestamp))
            or {{ column }} in ({{ unseen_stamps_sql(column, relation, source_relation, watermark) }}))
    {%- else -%}
        {%- set newest = run_query('select max(' ~ column ~ ') from ' ~ relation).columns[0].values()[0] -%}
        {%- if newest is none -%}
            1 = 1
        {%- else -%}
            {#- the watermark as a literal: a plain scan filter, never a join with the view's rows -#}
            {%- set stamps = run_query(
                unseen_stamps_sql(column, relation, source_relation, "cast('" ~ newest ~ "' as timestamp)") ~ ' order by 1'
            ).columns[0].values() -%}
            {%- if stamps | length > max_unseen_stamps -%}
                {{ column }} > {{ dbt.dateadd('minute', -1 * var('silver_lookback_minutes'), "cast('" ~ newest ~ "' as timestamp)") }}
            {%- else -%}
                ({{ column }} > cast('{{ newest }}' as timestamp)
                {%- for stamp in stamps %}
                    or {{ column }} = cast('{{ stamp }}' as timestamp)
                {%- endfor %})
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- The stamps from the lookback before watermark (a SQL expression) that source_relation holds and relation does not. -#}
{% macro unseen_stamps_sql(column, relation, source_relation, watermark) -%}
    {%- set window_start = dbt.dateadd('minute', -1 * var('silver_lookback_minutes'), watermark) -%}
    select distinct {{ column }} from {{ source_relation }}
    where {{ column }} > {{ window_start }} and {{ column }} <= {{ watermark }}
    except
    select distinct {{ column }} from {{ relation }}
    where {{ column }} > {{ window_start }}
{%- endmacro %}


{#-
    transform_stamp(column): the transformed_at a silver run writes on the
    rows it inserts or replaces: the run's start (run_started_at, UTC), or
    just after the newest stamp the model holds when the clock reads
    earlier, so that stamps only grow and the gold models, which read the
    silver rows stamped after their own newest, never miss one. A literal in
    a real run; the run's start in a unit test.
-#}
{% macro transform_stamp(column='transformed_at') -%}
    {%- set started = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)" -%}
    {%- if not execute or model.resource_type == 'unit_test' or not is_incremental() -%}
        {{ return(started) }}
    {%- endif -%}
    {%- set newest = run_query('select max(' ~ column ~ ') from ' ~ this).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{ return(started) }}
    {%- endif -%}
    {{ return("greatest(" ~ started ~ ", " ~ dbt.dateadd('millisecond', 1, "cast('" ~ newest ~ "' as timestamp)") ~ ")") }}
{%- endmacro %}
