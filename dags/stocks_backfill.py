"""
### stocks_backfill

Manual: replay landed lake objects through the load and ``dbt build``, for a
date range of landing dates (UTC; the quotes' own dates for objects of the
lake's layout before ``dt=``), a lake prefix, or both. Objects already
loaded are read again (``deno task load --reload``); a row whose stream
coordinates are in RAW already is skipped, so a backfill restores what is
missing and never duplicates. ``dbt build`` then carries the restored rows
to silver and gold, and, on DuckDB, ``deno task copy-gold`` to the gold copy
readers open.

Trigger it with parameters, e.g. ``{"start_date": "2026-11-20",
"end_date": "2026-11-21"}`` or ``{"prefix": "stock-quotes/dt=2026-11-20/partition=0/"}``;
empty parameters mean the whole topic.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, chain
from stocks_pipeline import DAG_ARGS, copy_gold, dbt_build, load

with DAG(
    dag_id="stocks_backfill",
    description="Replay landed objects for a date range or prefix through load and dbt build",
    schedule=None,
    doc_md=__doc__,
    tags=["stocks", "backfill"],
    **DAG_ARGS,
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="First landing date",
            description="First landing date (UTC; dt= in the lake) to replay, YYYY-MM-DD; empty for no lower bound.",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Last landing date",
            description="Last landing date (UTC; dt= in the lake) to replay, YYYY-MM-DD; empty for no upper bound.",
        ),
        "prefix": Param(
            None,
            type=["null", "string"],
            title="Lake prefix",
            description="Only objects under this prefix, e.g. stock-quotes/dt=2026-11-20/partition=0/; empty for the whole topic.",
        ),
    },
):
    chain(
        load(
            # Each parameter is one argument, never parsed by a shell; the
            # loader checks the dates and that the prefix lies under the topic.
            arguments=[
                "--reload",
                "--from",
                "{{ params.start_date or '' }}",
                "--to",
                "{{ params.end_date or '' }}",
                "--prefix",
                "{{ params.prefix or '' }}",
            ],
            doc_md="`deno task load --reload`: the selected objects, rows not in RAW only.",
        ),
        dbt_build(doc_md="`dbt build`, frequent path: carries the restored rows to silver and gold, and tests them."),
        *copy_gold(doc_md="`deno task copy-gold`: the read-only copy of gold that readers open."),
    )
