{#-
    gold_change_window(upstream, watermark_column, event_column, upstream_filter):
    what an incremental gold run must rebuild, as SQL expressions:

    - changed_after: the watermark. Rows of upstream with watermark_column
      later than this changed since the model last ran: the newest
      watermark_column the model holds ({{ this }}). Silver stamps each row
      it writes with its run's transformed_at, later than every earlier
      stamp (transform_stamp), so the rows stamped after the model's newest
      are exactly those it has not read, late or not: no lookback.
    - first_minute, first_hour, first_day: the start of the UTC minute,
      hour and day of the earliest changed row (event_column), or null when
      no row changed. Every bucket a gold model rebuilds starts on or after
      first_minute, and every candle it reads back from itself on or after
      first_hour (first_day for 1h candles), so the model can bound its
      reads with them.

    upstream_filter, when given, is a condition on upstream rows that
    count (e.g. timeframe = '1d').

    Each is read before the model runs and inlined as a literal
    (gold_bound): the warehouse can then skip upstream rows in the scan
    itself (a literal bound is a plain scan filter, zone maps included; a
    subquery is not). In a unit test they are subqueries over the fixtures.
-#}
{% macro gold_change_window(upstream, watermark_column='transformed_at', event_column='quote_ts', upstream_filter=none) -%}
    {%- do require_columns(this, [watermark_column]) -%}
    {%- set changed_after = gold_bound(
        "select coalesce(max(" ~ watermark_column ~ "), cast('1900-01-01' as timestamp)) from " ~ this
    ) -%}
    {%- set changed = ' from ' ~ upstream ~ ' where ' ~ watermark_column ~ ' > ' ~ changed_after
        ~ ('' if upstream_filter is none else ' and ' ~ upstream_filter) -%}
    {%- set first_minute = gold_bound('select ' ~ time_bucket_start('min(' ~ event_column ~ ')', 1, 'minute') ~ changed) -%}
    {%- set first_hour = gold_bound('select ' ~ time_bucket_start('min(' ~ event_column ~ ')', 1, 'hour') ~ changed) -%}
    {%- set first_day = gold_bound('select ' ~ time_bucket_start('min(' ~ event_column ~ ')', 1, 'day') ~ changed) -%}
    {{ return({
        'changed_after': changed_after,
        'first_minute': first_minute,
        'first_hour': first_hour,
        'first_day': first_day,
    }) }}
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
    require_columns(relation, columns): fails the run with a clear message
    when an incremental model's table lacks a column its incremental logic
    reads (a table built by an earlier version of the model), instead of a
    database error. Nothing to check in a unit test (a fixture) or at parse
    time.
-#}
{% macro require_columns(relation, columns) -%}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- for column in columns if column | lower not in present -%}
            {{ exceptions.raise_compiler_error(
                "Cannot run " ~ relation ~ " incrementally as it has no " ~ column ~ " column: it was built"
                ~ " by an earlier version of the model. Rebuild it once: deno task transform build --full-refresh"
            ) }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
