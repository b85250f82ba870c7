"""
### stocks_daily

Once a day (``STOCKS_DAILY_SCHEDULE``, UTC; 02:30 by default, between the US
close and the next open): the full ``dbt build``, every data test over whole
tables (the scans of RAW and silver that ``stocks_realtime`` leaves out),
the unit tests, and ``assert_silver_matches_full_recompute``, which
re-derives silver from all of bronze; then, on DuckDB, the gold copy readers
open (``deno task copy-gold``). The models are incremental, so the build
itself costs what arrived since the last run; the tests cost a scan of the
warehouse, once a day instead of every minute.

- It loads nothing: ``stocks_realtime`` does, and the pool
  ``stocks_warehouse`` keeps the two from writing the warehouse at once.
- A failed test fails the run, and Airflow retries it as it does every task.
"""

from __future__ import annotations

from airflow.sdk import DAG, chain
from stocks_pipeline import DAG_ARGS, DAILY_SCHEDULE, copy_gold, dbt_build

with DAG(
    dag_id="stocks_daily",
    description="Daily: the full dbt build, every test over whole tables and the reconciliation",
    schedule=DAILY_SCHEDULE,
    doc_md=__doc__,
    tags=["stocks", "daily"],
    **DAG_ARGS,
):
    chain(
        dbt_build(
            doc_md="`dbt build`, daily path: every model and every test, the reconciliation included.",
            daily=True,
        ),
        *copy_gold(doc_md="`deno task copy-gold`: the read-only copy of gold that readers open."),
    )
