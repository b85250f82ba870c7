"""
### stocks_realtime

Every minute (``STOCKS_REALTIME_SCHEDULE``): load the lake objects landed
since the last run into the warehouse (``deno task load``), then
``dbt build`` the bronze, silver and gold layers, each in a container.

- One run at a time and no catch-up: a late run does the work of the runs
  it replaced, since a load takes every object not loaded yet.
- Each task retries with exponential backoff and has an execution timeout.
- The ``stocks_gold`` Asset is updated after each build: DAGs scheduled on it
  run when gold has new data.
"""

from __future__ import annotations

from airflow.sdk import DAG
from stocks_pipeline import DAG_ARGS, REALTIME_SCHEDULE, dbt_build, load

with DAG(
    dag_id="stocks_realtime",
    description="Micro-batch: lake → warehouse RAW, then dbt build to gold",
    schedule=REALTIME_SCHEDULE,
    doc_md=__doc__,
    tags=["stocks"],
    **DAG_ARGS,
):
    (
        load(doc_md="`deno task load`: every lake object not in the load ledger, into RAW.")
        >> dbt_build(doc_md="`dbt build`: bronze, silver and gold, and their tests.")
    )
