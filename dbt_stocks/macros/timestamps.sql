{#-
    Timestamps in bronze and later are UTC wall-clock values without a time
    zone (DuckDB timestamp, Snowflake timestamp_ntz), so that truncating to a
    minute or a day never depends on a session time zone.
-#}

{#- epoch_to_utc(epoch, unit): epoch seconds ('s') or milliseconds ('ms') to a UTC timestamp; out-of-range values give null. -#}
{% macro epoch_to_utc(epoch, unit='s') -%}
    {%- if unit not in ('s', 'ms') -%}
        {{ exceptions.raise_compiler_error("epoch_to_utc: unit must be 's' or 'ms', got " ~ unit) }}
    {%- endif -%}
    {%- set seconds = epoch if unit == 's' else '(' ~ epoch ~ ') / 1000' -%}
    {#- Guard: 1970-01-01T00:00:01 up to 9999-12-31T23:59:59, else null (a bogus epoch must not fail the build). -#}
    case
        when {{ seconds }} between 1 and 253402300799
            then {{ adapter.dispatch('epoch_to_utc', 'dbt_stocks')(epoch, unit) }}
    end
{%- endmacro %}

{% macro default__epoch_to_utc(epoch, unit) -%}
    {#- postgres-style: to_timestamp gives a timestamptz, read back as UTC wall clock. -#}
    cast(to_timestamp(({{ epoch }}) {{ '/ 1000.0' if unit == 'ms' else '' }}) at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__epoch_to_utc(epoch, unit) -%}
    {#- epoch_ms returns a plain timestamp (UTC, no time zone); to_timestamp would return a timestamptz shown in the session zone. -#}
    epoch_ms(cast({{ epoch }} as bigint){{ ' * 1000' if unit == 's' else '' }})
{%- endmacro %}

{% macro snowflake__epoch_to_utc(epoch, unit) -%}
    {#- a numeric epoch with a scale (0 = seconds, 3 = milliseconds) is read as UTC and gives a timestamp_ntz. -#}
    to_timestamp_ntz(cast({{ epoch }} as bigint), {{ 3 if unit == 'ms' else 0 }})
{%- endmacro %}


{#- to_utc(column): a time-zone-aware timestamp to UTC wall clock without a time zone. -#}
{% macro to_utc(column) -%}
    {{ return(adapter.dispatch('to_utc', 'dbt_stocks')(column)) }}
{%- endmacro %}

{% macro default__to_utc(column) -%}
    {#- sql standard: at time zone on a timestamptz gives the local wall clock of that zone. -#}
    cast({{ column }} at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__to_utc(column) -%}
    {#- timezone('UTC', timestamptz) returns a plain timestamp; a bare cast would use the session TimeZone. -#}
    timezone('UTC', {{ column }})
{%- endmacro %}

{% macro snowflake__to_utc(column) -%}
    {#- convert_timezone shifts to UTC, then the ntz cast drops the offset and keeps the UTC wall clock. -#}
    cast(convert_timezone('UTC', {{ column }}) as timestamp_ntz)
{%- endmacro %}


{#- time_bucket_start(ts, count, unit): start of the fixed bucket of count units (minute, hour, day) holding ts, aligned on the Unix epoch. -#}
{% macro time_bucket_start(ts, count, unit) -%}
    {%- if unit not in ('minute', 'hour', 'day') -%}
        {{ exceptions.raise_compiler_error("time_bucket_start: unit must be minute, hour or day, got " ~ unit) }}
    {%- endif -%}
    {%- if count == 1 -%}
        {#- one whole unit: date_trunc is the same in every dialect. -#}
        date_trunc('{{ unit }}', {{ ts }})
    {%- else -%}
        {{ return(adapter.dispatch('time_bucket_start', 'dbt_stocks')(ts, count, unit)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__time_bucket_start(ts, count, unit) -%}
    {#- postgres 14+: date_bin with an explicit epoch origin. -#}
    date_bin(interval '{{ count }} {{ unit }}', {{ ts }}, timestamp '1970-01-01')
{%- endmacro %}

{% macro duckdb__time_bucket_start(ts, count, unit) -%}
    {#- time_bucket with an explicit epoch origin (its default origin is 2000-01-03). -#}
    time_bucket(interval '{{ count }} {{ unit }}', {{ ts }}, timestamp '1970-01-01')
{%- endmacro %}

{% macro snowflake__time_bucket_start(ts, count, unit) -%}
    {#- time_slice buckets are aligned on 1970-01-01 00:00:00. -#}
    time_slice({{ ts }}, {{ count }}, '{{ unit | upper }}', 'START')
{%- endmacro %}
