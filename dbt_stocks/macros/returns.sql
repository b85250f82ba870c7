{#-
    scaled_log_return(price, previous_price): ln(price / previous_price) in
    units of 1e-12, rounded to a whole number (null without a previous
    price). Whole numbers add up exactly in any grouping and order, so the
    return sums of a candle rolled up from finer candles, built in one run
    or over many, are the same to the last digit. Rounding moves a return by
    at most 5e-13, far below the 10 decimals gold_volatility keeps.
-#}
{% macro scaled_log_return(price, previous_price) -%}
    cast(round(ln({{ price }} / {{ previous_price }}) * 1e12) as decimal(37, 0))
{%- endmacro %}


{#-
    exact_square(scaled_return): a scaled return's square (units of 1e-24)
    as a whole number of 37 digits. Each sum of these, and of the scaled
    returns, casts its argument to decimal(37, 0) too: the Snowflake
    emulator the tests run on (fakesnow) sums anything else as a double,
    which is exact only below 2^53.
-#}
{% macro exact_square(scaled_return) -%}
    cast({{ scaled_return }} * {{ scaled_return }} as decimal(37, 0))
{%- endmacro %}


{#-
    volatility_from_sums(count, sum_e12, sq_sum_e24): the sample standard
    deviation of count returns from their sum (units of 1e-12) and sum of
    squares (units of 1e-24), rounded to 10 decimals; null under two
    returns. The sums are exact whole numbers, so the figure depends only on
    the set of returns. Log returns between consecutive quotes have a mean
    far below their spread, so the one-pass formula loses no significant
    digit here (against the two-pass stddev_samp of the unrounded returns:
    within 1e-12, then rounded to 10 decimals).
-#}
{% macro volatility_from_sums(count, sum_e12, sq_sum_e24) -%}
    case
        when {{ count }} >= 2 then round(
            sqrt(greatest(
                (cast({{ sq_sum_e24 }} as double)
                    - cast({{ sum_e12 }} as double) * cast({{ sum_e12 }} as double) / {{ count }})
                / ({{ count }} - 1),
                0
            )) / 1e12,
            10
        )
    end
{%- endmacro %}
