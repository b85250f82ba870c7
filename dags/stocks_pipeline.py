"""What the stocks DAGs share: settings, Assets, the dbt builds and the container task.

Where each value comes from:

- the images: Airflow Variables ``stocks_pipeline_image`` and
  ``stocks_dbt_image`` when set (read at run time), else the environment
  variables ``STOCKS_PIPELINE_IMAGE`` and ``STOCKS_DBT_IMAGE`` of the Airflow
  processes, else the tags docker-compose.yml builds;
- the Docker daemon, network, warehouse volume, pool, schedule, retries and
  timeouts: the environment of the Airflow processes (``STOCKS_*``, read when
  the DAG files are parsed);
- the containers' settings: the pipeline's own variables (``FORWARDED``) as
  the Airflow processes have them, passed on unchanged;
- secrets: the Airflow Connections ``stocks_lake`` (the lake's S3 keys) and,
  with ``WAREHOUSE=snowflake``, ``stocks_snowflake`` (user and password), read
  only when a task runs and handed to the container as private environment,
  so they never appear in rendered templates, the UI or task logs.

This file is listed in ``.airflowignore``: it defines no DAG.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import Asset, BaseHook
from docker.types import Mount


def setting(name: str, default: str) -> str:
    """The Airflow process's environment variable ``name``, or ``default``."""
    value = os.environ.get(name, "").strip()
    return value or default


def minutes(name: str, default: int) -> timedelta:
    """A duration in minutes from the environment."""
    return timedelta(minutes=positive_int(name, default))


def positive_int(name: str, default: int) -> int:
    """A positive integer from the environment, or a clear error."""
    text = setting(name, str(default))
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{name} must be a positive integer: current value is {text!r}")
    return int(text)


#: The warehouse's RAW layer, updated by every load.
RAW = Asset(name="stocks_raw", uri="stocks://warehouse/raw", group="stocks")
#: The warehouse's gold layer, rebuilt by every ``dbt build``: downstream DAGs
#: can be scheduled on it.
GOLD = Asset(name="stocks_gold", uri="stocks://warehouse/gold", group="stocks")
#: The gold copy beside a DuckDB warehouse (``gold_copy.duckdb``), the file
#: readers open, republished after every build: DAGs that read it can be
#: scheduled on it.
GOLD_COPY = Asset(name="stocks_gold_copy", uri="stocks://warehouse/gold_copy", group="stocks")

#: Image of the Deno entry points (``deno task <name>``), as compose builds it.
PIPELINE_IMAGE = setting("STOCKS_PIPELINE_IMAGE", "stocks-pipeline:latest")
#: Image of ``dbt`` on dbt_stocks, as compose builds it.
DBT_IMAGE = setting("STOCKS_DBT_IMAGE", "stocks-dbt:latest")
#: Docker daemon the containers run on (docker-compose.yml mounts its socket).
DOCKER_URL = setting("STOCKS_DOCKER_URL", "unix://var/run/docker.sock")
#: Docker network the containers join, to reach Kafka and MinIO by name.
DOCKER_NETWORK = setting("STOCKS_DOCKER_NETWORK", "stocks-pipeline")
#: Docker volume holding the DuckDB warehouse, mounted at /app/data.
WAREHOUSE_VOLUME = setting("STOCKS_WAREHOUSE_VOLUME", "stocks-pipeline-warehouse")
#: Airflow pool of the tasks that write the warehouse. A DuckDB file takes one
#: writer at a time: the pool (1 slot, created by compose's airflow-init) keeps
#: a backfill and the realtime DAG from writing at once.
WAREHOUSE_POOL = setting("STOCKS_WAREHOUSE_POOL", "stocks_warehouse")
#: Airflow connection with the lake's S3 keys (login, password), if any.
LAKE_CONNECTION = setting("STOCKS_LAKE_CONN_ID", "stocks_lake")
#: The warehouse the pipeline writes (WAREHOUSE: duckdb or snowflake).
WAREHOUSE = setting("WAREHOUSE", "duckdb")
#: Airflow connection with the Snowflake user and password, for WAREHOUSE=snowflake.
SNOWFLAKE_CONNECTION = setting("STOCKS_SNOWFLAKE_CONN_ID", "stocks_snowflake")
#: Cron schedule of ``stocks_realtime``.
REALTIME_SCHEDULE = setting("STOCKS_REALTIME_SCHEDULE", "* * * * *")
#: Cron schedule of ``stocks_daily`` (UTC): after the US close, before the next open.
DAILY_SCHEDULE = setting("STOCKS_DAILY_SCHEDULE", "30 2 * * *")
#: Minutes of recently transformed rows the frequent build's data tests read
#: (dbt var ``data_test_window_minutes``): this run's rows and those of the
#: runs just before it, so a retry after a failed test fails again.
TEST_WINDOW_MINUTES = positive_int("STOCKS_TEST_WINDOW_MINUTES", 5)

#: The frequent ``dbt build`` (the same as ONE_SHOT_BUILD in
#: lib/transform/dbt.ts): every model, the seeds (the symbols' exchanges and
#: their sessions, a few thousand rows, under a second; each run is a new dbt
#: process, so a new warehouse needs nothing first), and the data tests on
#: recently transformed rows; not the tests tagged ``daily`` (whole scans of
#: RAW and silver, the reconciliation against a full recompute) nor the unit
#: tests.
FREQUENT_BUILD = (
    "build",
    "--exclude",
    "tag:daily",
    "test_type:unit",
    "--vars",
    json.dumps({"data_test_window_minutes": TEST_WINDOW_MINUTES}),
)
#: The daily ``dbt build``: every model and every test over whole tables.
DAILY_BUILD = ("build",)

#: The pipeline's settings passed on to the containers when the Airflow
#: processes have them; the names are the keys of .env.example.
FORWARDED = (
    "KAFKA_TOPIC",
    "KAFKA_TRADES_TOPIC",
    "S3_BUCKET",
    "S3_ENDPOINT",
    "S3_REGION",
    "WAREHOUSE",
    "DUCKDB_PATH",
    "DUCKDB_GOLD_COPY_PATH",
    "DBT_TARGET",
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_LOADER_ROLE",
    "SNOWFLAKE_ROLE",
    "SNOWFLAKE_WAREHOUSE",
    "SNOWFLAKE_DATABASE",
    "SNOWFLAKE_STAGE",
    "SNOWFLAKE_STORAGE_INTEGRATION",
    "SNOWFLAKE_ON_ERROR",
    "LOG_LEVEL",
    "LOG_FORMAT",
)

#: What the DAGs share: one run at a time, no catch-up, and for every task
#: retries with exponential backoff (delay × 2 each time, up to a ceiling).
DAG_ARGS: dict[str, Any] = {
    "start_date": datetime(2026, 1, 1, tzinfo=timezone.utc),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {
        "owner": "data-engineering",
        "retries": positive_int("STOCKS_RETRIES", 3),
        "retry_delay": timedelta(seconds=positive_int("STOCKS_RETRY_DELAY_SECONDS", 15)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=positive_int("STOCKS_MAX_RETRY_DELAY_SECONDS", 300)),
    },
}
#: Longest a load may run before Airflow stops it (and retries).
LOAD_TIMEOUT = minutes("STOCKS_LOAD_TIMEOUT_MINUTES", 15)
#: Longest a ``dbt build`` may run before Airflow stops it (and retries).
DBT_TIMEOUT = minutes("STOCKS_DBT_TIMEOUT_MINUTES", 30)
#: Longest publishing the gold copy may take before Airflow stops it (and retries).
COPY_TIMEOUT = minutes("STOCKS_COPY_GOLD_TIMEOUT_MINUTES", 10)


def variable_or(name: str, default: str) -> str:
    """A template: Airflow Variable ``name`` at run time, else ``default``."""
    return "{{ var.value.get(%r, %r) }}" % (name, default)


def connection_with_login(conn_id: str, what: str):
    """An Airflow connection that must exist and hold a login and a password."""
    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as error:  # AirflowNotFoundException, by SDK version
        raise RuntimeError(
            f"Cannot run the task as the Airflow connection {conn_id!r} ({what}) "
            f"is not defined: add it under Admin > Connections, or set AIRFLOW_CONN_{conn_id.upper()}"
        ) from error
    if not connection.login or not connection.password:
        raise RuntimeError(
            f"Cannot run the task as the Airflow connection {conn_id!r} ({what}) "
            "must hold a login and a password"
        )
    return connection


def lake_credentials(conn_id: str) -> dict[str, str]:
    """The lake's S3 keys from an Airflow connection, as the pipeline's variables.

    The connection is of type ``aws``: login is the access key id, password
    the secret key; ``endpoint_url`` and ``region_name`` in its extra, when
    present, set S3_ENDPOINT and S3_REGION.
    """
    connection = connection_with_login(conn_id, "the lake's S3 keys")
    env = {"AWS_ACCESS_KEY_ID": connection.login, "AWS_SECRET_ACCESS_KEY": connection.password}
    extra = connection.extra_dejson or {}
    if extra.get("endpoint_url"):
        env["S3_ENDPOINT"] = str(extra["endpoint_url"])
    if extra.get("region_name"):
        env["S3_REGION"] = str(extra["region_name"])
    return env


def snowflake_credentials(conn_id: str) -> dict[str, str]:
    """The Snowflake user and password from an Airflow connection (type
    ``snowflake``), for the loader and dbt's snowflake target."""
    connection = connection_with_login(conn_id, "the Snowflake user and password")
    return {"SNOWFLAKE_USER": connection.login, "SNOWFLAKE_PASSWORD": connection.password}


class PipelineContainer(DockerOperator):
    """A DockerOperator that adds secrets from Airflow connections when it runs.

    The lake's keys (``lake_conn_id``) and the warehouse's credentials
    (``warehouse_conn_id``) are read at run time and go into DockerOperator's
    private environment, which is never templated, rendered or logged.
    """

    def __init__(
        self,
        *,
        lake_conn_id: str | None = None,
        warehouse_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lake_conn_id = lake_conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Any) -> Any:
        secrets: dict[str, str] = {}
        if self.lake_conn_id:
            secrets.update(lake_credentials(self.lake_conn_id))
        if self.warehouse_conn_id:
            secrets.update(snowflake_credentials(self.warehouse_conn_id))
        self._private_environment = {**self._private_environment, **secrets}
        return super().execute(context)


def container(
    *,
    task_id: str,
    image: str,
    command: Sequence[str],
    timeout: timedelta,
    outlets: Sequence[Asset] = (),
    lake: bool = False,
    doc_md: str | None = None,
) -> PipelineContainer:
    """A task that runs ``command`` in ``image`` on the stack's network, with
    the warehouse volume mounted and the pipeline's settings passed on.

    ``lake`` adds the lake's keys from the ``stocks_lake`` connection; with
    ``WAREHOUSE=snowflake`` every task gets the ``stocks_snowflake`` user and
    password.
    """
    environment = {name: os.environ[name] for name in FORWARDED if os.environ.get(name)}
    return PipelineContainer(
        task_id=task_id,
        image=image,
        command=list(command),
        environment=environment,
        lake_conn_id=LAKE_CONNECTION if lake else None,
        warehouse_conn_id=SNOWFLAKE_CONNECTION if WAREHOUSE == "snowflake" else None,
        docker_url=DOCKER_URL,
        network_mode=DOCKER_NETWORK,
        mounts=[Mount(target="/app/data", source=WAREHOUSE_VOLUME, type="volume")],
        # Airflow runs in a container beside the daemon: no host temp dir to share.
        mount_tmp_dir=False,
        auto_remove="force",
        execution_timeout=timeout,
        pool=WAREHOUSE_POOL,
        outlets=list(outlets),
        doc_md=doc_md,
    )


def load(*, arguments: Sequence[str] = (), doc_md: str) -> PipelineContainer:
    """``deno task load [arguments]`` in the pipeline image, with the lake's keys."""
    return container(
        task_id="load",
        image=variable_or("stocks_pipeline_image", PIPELINE_IMAGE),
        command=["load", *arguments],
        timeout=LOAD_TIMEOUT,
        outlets=[RAW],
        lake=True,
        doc_md=doc_md,
    )


def dbt_build(*, doc_md: str, daily: bool = False) -> PipelineContainer:
    """``dbt build`` on the warehouse: bronze, silver and gold, with the data
    tests on new rows (``FREQUENT_BUILD``), or with every test over whole
    tables when ``daily`` (``DAILY_BUILD``)."""
    return container(
        task_id="dbt_build",
        image=variable_or("stocks_dbt_image", DBT_IMAGE),
        command=[*(DAILY_BUILD if daily else FREQUENT_BUILD), "--target", setting("DBT_TARGET", "duckdb")],
        timeout=DBT_TIMEOUT,
        outlets=[GOLD],
        doc_md=doc_md,
    )


def copy_gold(*, doc_md: str) -> list[PipelineContainer]:
    """``deno task copy-gold`` in the pipeline image, after ``dbt build``: the
    gold copy readers open instead of the DuckDB warehouse, so a reader never
    holds the file the next load and build need. None with
    ``WAREHOUSE=snowflake``, where readers do not keep writers out."""
    if WAREHOUSE != "duckdb":
        return []
    return [
        container(
            task_id="copy_gold",
            image=variable_or("stocks_pipeline_image", PIPELINE_IMAGE),
            command=["copy-gold"],
            timeout=COPY_TIMEOUT,
            outlets=[GOLD_COPY],
            doc_md=doc_md,
        )
    ]
