"""Parses dags/ with Airflow's own DagBag and prints what the DAG tests check.

Run with the Airflow virtualenv's python (tests/airflow/airflow_test.ts does): the
last line of output is one JSON object with the import errors and, per DAG,
its schedule, run limits, params and tasks (type, order, retries, timeouts,
image, command, environment, mounts, network, pool and Assets).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

warnings.simplefilter("ignore")

from airflow.dag_processing.dagbag import BundleDagBag  # noqa: E402


def seconds(value) -> float | None:
    return None if value is None else value.total_seconds()


def describe(task) -> dict:
    return {
        "type": type(task).__name__,
        "bases": [cls.__name__ for cls in type(task).__mro__],
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "retries": task.retries,
        "retry_delay": seconds(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay": seconds(task.max_retry_delay),
        "execution_timeout": seconds(task.execution_timeout),
        "pool": task.pool,
        "outlets": [{"name": asset.name, "uri": asset.uri} for asset in task.outlets],
        "image": getattr(task, "image", None),
        "command": getattr(task, "command", None),
        "environment": getattr(task, "environment", None),
        "private_environment": sorted(getattr(task, "_private_environment", {}) or {}),
        "mounts": [dict(mount) for mount in getattr(task, "mounts", [])],
        "network_mode": getattr(task, "network_mode", None),
        "docker_url": getattr(task, "docker_url", None),
        "mount_tmp_dir": getattr(task, "mount_tmp_dir", None),
        "lake_conn_id": getattr(task, "lake_conn_id", None),
        "warehouse_conn_id": getattr(task, "warehouse_conn_id", None),
    }


def main() -> None:
    folder = Path(sys.argv[1]).resolve()
    bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder)
    dags = {}
    for dag_id, dag in bag.dags.items():
        timetable = dag.timetable
        dags[dag_id] = {
            "schedule": getattr(timetable, "expression", None),
            "timetable": type(timetable).__name__,
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "params": {name: dag.params.get_param(name).schema for name in dag.params},
            "tasks": {task.task_id: describe(task) for task in dag.tasks},
        }
    print(json.dumps({"import_errors": bag.import_errors, "dags": dags}, default=str))


if __name__ == "__main__":
    main()
