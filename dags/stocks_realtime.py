"""
### stocks_realtime

Every minute (``STOCKS_REALTIME_SCHEDULE``): load the lake objects landed
since the last run into the warehouse (``deno task load``), then
``dbt build`` the bronze, silver and gold layers on the frequent path (every
model, incremental, and the data tests on the rows it transformed; the
``stocks_daily`` DAG runs the rest), then, on DuckDB, publish the gold copy
readers open (``deno task copy-gold``), each in a container.

- One run at a time and no catch-up: a late run does the work of the runs
  it replaced, since a load takes every object not loaded yet.
- Each task retries with exponential backoff and has an execution timeout.
- The ``stocks_gold`` Asset is updated after each build, and
  ``stocks_gold_copy`` after each copy: DAGs scheduled on them run when gold
  has new data.
"""

from __future__ import annotations

from airflow.sdk import DAG, chain
from stocks_pipeline import DAG_ARGS, REALTIME_SCHEDULE, copy_gold, dbt_build, load

with DAG(
    dag_id="stocks_realtime",
    description="Micro-batch: lake → warehouse RAW, then dbt build to gold",
    schedule=REALTIME_SCHEDULE,
    doc_md=__doc__,
    tags=["stocks"],
    **DAG_ARGS,
):
    chain(
        load(doc_md="`deno task load`: every lake object not in the load ledger, into RAW."),
        dbt_build(doc_md="`dbt build`, frequent path: every model, the data tests on new rows."),
        *copy_gold(doc_md="`deno task copy-gold`: the read-only copy of gold that readers open."),
    )
