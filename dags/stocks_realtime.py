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

from datetime import datetime, timezone

from airflow.sdk import DAG
from stocks_pipeline import (
    DEFAULT_ARGS,
    LOAD_TIMEOUT,
    PIPELINE_IMAGE,
    RAW,
    REALTIME_SCHEDULE,
    container,
    dbt_build,
    variable_or,
)

with DAG(
    dag_id="stocks_realtime",
    description="Micro-batch: lake → warehouse RAW, then dbt build to gold",
    schedule=REALTIME_SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["stocks"],
):
    load = container(
        task_id="load",
        image=variable_or("stocks_pipeline_image", PIPELINE_IMAGE),
        command=["load"],
        timeout=LOAD_TIMEOUT,
        outlets=[RAW],
        lake=True,
        doc_md="`deno task load`: every lake object not in the load ledger, into RAW.",
    )
    build = dbt_build(doc_md="`dbt build`: bronze, silver and gold, and their tests.")
    load >> build
