{#-
    gold_change_window(upstream, watermark_column, event_column): what an
    incremental gold run must rebuild, as two SQL expressions:

    - loaded_after: the watermark. Rows of upstream (silver) with
      watermark_column later than this changed since the model last ran: the
      newest watermark_column the model holds ({{ this }}), less var
      silver_lookback_hours, the same bound and lookback as silver's own
      loaded_since_watermark (a load that commits late is read again; the
      gold models are idempotent over it).
    - first_day: the start of the UTC day of the earliest changed row
      (event_column), or null when no row changed. Every bucket or day a
      gold model rebuilds lies on or after it, so the model can bound its
      read of upstream with it.

    Both are read before the model runs and inlined as literals
    (gold_bound): the warehouse can then skip upstream rows in the scan
    itself (a literal bound is a plain scan filter, zone maps included; a
    subquery is not). In a unit test they are subqueries over the fixtures.

    {{ this }} must have watermark_column: a gold table built before it was
    incremental has not, and needs one rebuild with --full-refresh.
-#}
{% macro gold_change_window(upstream, watermark_column='loaded_at', event_column='quote_ts') -%}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- if watermark_column | lower not in columns -%}
            {{ exceptions.raise_compiler_error(
                this ~ " has no " ~ watermark_column ~ " column: it was built before it was incremental."
                ~ " Rebuild the gold models once: deno task transform build --full-refresh --select gold"
            ) }}
        {%- endif -%}
    {%- endif -%}
    {%- set loaded_after = gold_bound(
        'select ' ~ dbt.dateadd(
            'hour',
            -1 * var('silver_lookback_hours'),
            "coalesce(max(" ~ watermark_column ~ "), cast('1900-01-01' as timestamp))"
        ) ~ ' from ' ~ this
    ) -%}
    {%- set first_day = gold_bound(
        'select ' ~ time_bucket_start('min(' ~ event_column ~ ')', 1, 'day')
        ~ ' from ' ~ upstream ~ ' where ' ~ watermark_column ~ ' > ' ~ loaded_after
    ) -%}
    {{ return({'loaded_after': loaded_after, 'first_day': first_day}) }}
{%- endmacro %}


{#-
    gold_bound(query): the timestamp a one-value query returns, as a SQL
    expression to compare with. A real run reads it first and inlines it as a
    literal (null when the query finds none), so that a comparison with it is
    a plain scan filter; in a unit test the models' inputs are fixture CTEs,
    so it is the query itself as a subquery.
-#}
{% macro gold_bound(query) -%}
    {%- if not execute -%}
        {{ return("cast(null as timestamp)") }}
    {%- elif model.resource_type == 'unit_test' -%}
        {{ return('(' ~ query ~ ')') }}
    {%- endif -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return("cast(null as timestamp)" if value is none else "cast('" ~ value ~ "' as timestamp)") }}
{%- endmacro %}


{#-
    gold_latest_day_start(upstream, entity_column, event_column): the start
    of the UTC day of the oldest per-entity latest event_column: every
    symbol's latest quote, and the rest of its latest day, are on or after
    it (null when upstream is empty). A model that needs only each symbol's
    latest day reads the rows from there on instead of the whole history.
-#}
{% macro gold_latest_day_start(upstream, entity_column='symbol', event_column='quote_ts') -%}
    {#- upstream not built yet (dbt compile or docs on a new warehouse): nothing to read -#}
    {%- if execute and model.resource_type != 'unit_test' and load_relation(upstream) is none -%}
        {{ return("cast(null as timestamp)") }}
    {%- endif -%}
    {{ return(gold_bound(
        'select min(' ~ time_bucket_start('latest_event', 1, 'day') ~ ')'
        ~ ' from (select max(' ~ event_column ~ ') as latest_event from ' ~ upstream
        ~ ' group by ' ~ entity_column ~ ') as latest'
    )) }}
{%- endmacro %}
