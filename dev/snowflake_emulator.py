"""Runs dbt_stocks' `snowflake` target against fakesnow, a Snowflake emulator.

fakesnow patches snowflake-connector-python in this process, so every
connection dbt-snowflake opens goes to an in-process DuckDB that accepts
Snowflake SQL (each statement is parsed as Snowflake SQL by sqlglot and
translated to DuckDB). The script:

1. reads raw.source_stock_quotes from a DuckDB warehouse built by the Deno
   pipeline and lands it in the emulator's RAW.SOURCE_STOCK_QUOTES (v
   VARIANT through parse_json, the stream columns, TIMESTAMP_TZ times), as
   the Snowflake loader will;
2. runs dbt in this process with `--target snowflake` and the arguments
   after `--` (default: build). With --per-load it lands RAW one load (one
   loaded_at) at a time and runs dbt after each, as the pipeline does, so
   the incremental models take their incremental path from the second run;
3. with --compare, checks that every bronze, silver and gold relation holds
   the same rows as in the DuckDB warehouse (built by dbt on DuckDB from the
   same RAW; transformed_at, when each build wrote a row, aside): the
   Snowflake macros must mean what the DuckDB ones mean.

Exit code: dbt's (0 ok, 1 failures, 2 dbt could not run), or 3 when
--compare finds a difference.

Run it with the emulator's virtualenv (requirements-snowflake.txt):

    python3 -m venv ~/.cache/stocks-pipeline/venv-snowflake
    ~/.cache/stocks-pipeline/venv-snowflake/bin/pip install -r requirements-snowflake.txt
    ~/.cache/stocks-pipeline/venv-snowflake/bin/python dev/snowflake_emulator.py \
        --raw-from data/warehouse.duckdb --compare -- build

The emulator is not Snowflake: it catches SQL that Snowflake's grammar
rejects, unknown functions and failing casts, but it runs everything on
DuckDB, so it accepts some SQL that Snowflake would reject or read
differently. Set FAKESNOW_DEBUG=snowflake to print every statement dbt sends.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import duckdb
import fakesnow
import fakesnow.cursor
import snowflake.connector

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_stocks"
DATABASE = "STOCKS"
LAYERS = ("bronze", "silver", "gold")

# What the Snowflake loader creates (lib/warehouse/snowflake/warehouse.ts; tests/unit/snowflake_test.ts
# checks the two agree): the DuckDB table in Snowflake types.
CREATE_RAW = """
create table if not exists RAW.SOURCE_STOCK_QUOTES (
    v variant not null,
    stream_id varchar not null,
    stream_topic varchar not null,
    stream_partition integer not null,
    stream_offset bigint not null,
    stream_timestamp timestamp_tz not null,
    file_name varchar not null,
    loaded_at timestamp_tz not null,
    primary key (stream_id, stream_topic, stream_partition, stream_offset)
)
"""

#: RAW's tables of events: quotes, and trades with the same columns.
RAW_TABLES = ("SOURCE_STOCK_QUOTES", "SOURCE_STOCK_TRADES")

# Snowflake allows no parse_json in a VALUES clause: insert ... select.
INSERT_RAW = """
insert into RAW.SOURCE_STOCK_QUOTES
select
    parse_json(%s), %s, %s, %s, %s,
    to_timestamp_tz(%s), %s, to_timestamp_tz(%s)
"""

# fakesnow keeps a temporary table in DuckDB's temp catalog and rejects a
# qualified name ("create temporary table DB.SCHEMA.T": "TEMPORARY table
# names can *only* use the temp catalog"), which dbt-snowflake sends for unit
# tests and incremental runs. A plain table stands in for it (dbt drops it).
_TEMPORARY = re.compile(r"^(\s*create\s+(?:or\s+replace\s+)?)temporary\s+(table\s)", re.IGNORECASE)


def log(message: str) -> None:
    print(f"snowflake_emulator: {message}", file=sys.stderr, flush=True)


def allow_qualified_temporary_tables() -> None:
    """Works around fakesnow's qualified temporary table gap (see _TEMPORARY)."""
    execute = fakesnow.cursor.FakeSnowflakeCursor.execute

    def patched(self, command, *args, **kwargs):
        return execute(self, _TEMPORARY.sub(r"\1\2", command, count=1), *args, **kwargs)

    fakesnow.cursor.FakeSnowflakeCursor.execute = patched


def read_raw(path: str, limit: int | None, table: str = "source_stock_quotes") -> list[tuple]:
    """The RAW rows of a DuckDB warehouse's table (quotes by default), in load order.

    The times go as text at UTC+05:30, the same instants: bronze must turn a
    TIMESTAMP_TZ of any offset into UTC wall clock, not keep the local one.
    """
    conn = duckdb.connect(path, read_only=True)
    try:
        conn.execute("set TimeZone = 'UTC'")
        at_0530 = "strftime(cast({} as timestamp) + interval 330 minute, '%Y-%m-%d %H:%M:%S.%f +05:30')"
        return conn.execute(
            f"""
            select
                cast(v as varchar), stream_id, stream_topic, stream_partition, stream_offset,
                {at_0530.format("stream_timestamp")},
                file_name,
                {at_0530.format("loaded_at")}
            from raw.{table}
            order by loaded_at, stream_id, stream_topic, stream_partition, stream_offset
            {f"limit {int(limit)}" if limit else ""}
            """
        ).fetchall()
    finally:
        conn.close()


def connect() -> snowflake.connector.SnowflakeConnection:
    """A connection to the emulator (any credentials do), in the profile's database and schema."""
    return snowflake.connector.connect(
        account="fakesnow",
        user="fake",
        password="snow",
        database=DATABASE,
        schema=os.environ["SNOWFLAKE_SCHEMA"],
    )


def create_raw() -> None:
    """Creates RAW.SOURCE_STOCK_QUOTES, and the profile's schema on the way.

    Creating the schema up front matters: dbt's threads would otherwise race
    to create it on connect and clash in DuckDB's catalog.
    """
    with connect() as conn:
        cur = conn.cursor()
        cur.execute("create schema if not exists RAW")
        for table in RAW_TABLES:
            cur.execute(CREATE_RAW.replace("SOURCE_STOCK_QUOTES", table))


def land(rows: list[tuple], table: str = "SOURCE_STOCK_QUOTES") -> int:
    """Inserts RAW rows into a RAW table; returns the table's row count."""
    with connect() as conn:
        cur = conn.cursor()
        cur.executemany(INSERT_RAW.replace("SOURCE_STOCK_QUOTES", table), rows)
        cur.execute(f"select count(*) from RAW.{table}")
        return int(cur.fetchone()[0])


def run_dbt(args: list[str]) -> int:
    """dbt <args> --target snowflake on dbt_stocks, in this process (under the patch)."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        [
            *args,
            "--profiles-dir",
            str(PROJECT_DIR),
            "--project-dir",
            str(PROJECT_DIR),
            "--target",
            "snowflake",
        ]
    )
    if result.exception is not None:
        log(f"dbt could not run: {result.exception!r}")
        return 2
    return 0 if result.success else 1


def normalise(value: object) -> object:
    """A value comparable across the two warehouses (floats to 9 significant digits)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else f"{float(value):.9g}"
    if isinstance(value, float):
        return f"{value:.9g}"
    if isinstance(value, dt.datetime):
        # both sides hold UTC wall clock without a time zone from bronze on
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def rows_of(columns: list[str], names: list[str], rows: Iterable[tuple]) -> list[tuple]:
    """Rows reordered to `columns` (names matched case-insensitively), normalised and sorted."""
    index = {name.lower(): i for i, name in enumerate(names)}
    picks = [index[c] for c in columns]
    return sorted((tuple(normalise(row[i]) for i in picks) for row in rows), key=repr)


def compare(warehouse: str) -> bool:
    """Whether every bronze, silver and gold relation matches the DuckDB warehouse; logs each."""
    duck = duckdb.connect(warehouse, read_only=True)
    same = True
    try:
        relations = duck.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('bronze', 'silver', 'gold') order by all"
        ).fetchall()
        with connect() as conn:
            cur = conn.cursor()
            for schema, table in relations:
                name = f"{schema}.{table}"
                result = duck.execute(f"select * from {name}")
                columns = [d[0].lower() for d in result.description]
                # transformed_at is when a build wrote the row: it differs by design
                compared = [c for c in columns if c != "transformed_at"]
                expected = rows_of(compared, columns, result.fetchall())
                try:
                    cur.execute(f"select * from {schema}.{table}")
                except snowflake.connector.errors.ProgrammingError as error:
                    log(f"compare {name}: missing on the emulator ({error.msg})")
                    same = False
                    continue
                names = [d[0] for d in cur.description]
                if sorted(n.lower() for n in names) != sorted(columns):
                    log(f"compare {name}: columns differ: emulator {names}, duckdb {columns}")
                    same = False
                    continue
                actual = rows_of(compared, names, cur.fetchall())
                if actual == expected:
                    log(f"compare {name}: same {len(actual)} rows")
                    continue
                same = False
                only_emulator = [r for r in actual if r not in expected][:3]
                only_duckdb = [r for r in expected if r not in actual][:3]
                log(
                    f"compare {name}: DIFFERENT: emulator {len(actual)} rows, duckdb {len(expected)}; "
                    f"columns {columns}; only on the emulator {only_emulator}; only in duckdb {only_duckdb}"
                )
    finally:
        duck.close()
    return same


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Run dbt_stocks' snowflake target on fakesnow, with RAW copied from a DuckDB warehouse."
    )
    parser.add_argument("--raw-from", required=True, help="DuckDB warehouse whose raw.source_stock_quotes to land")
    parser.add_argument("--limit", type=int, help="land at most this many RAW rows (the first loaded)")
    parser.add_argument("--per-load", action="store_true", help="land one loaded_at at a time, running dbt after each")
    parser.add_argument("--compare", action="store_true", help="compare bronze, silver and gold with the warehouse")
    parser.add_argument("--db-path", help="keep the emulator's databases in this folder (default: in memory)")
    parser.add_argument("dbt_args", nargs="*", help="dbt's arguments, after --; default: build")
    opts = parser.parse_args(argv)

    # The profile reads every credential from the environment: the emulator takes any.
    for name, value in {
        "SNOWFLAKE_ACCOUNT": "fakesnow",
        "SNOWFLAKE_USER": "fake",
        "SNOWFLAKE_PASSWORD": "snow",
        "SNOWFLAKE_DATABASE": DATABASE,
        "SNOWFLAKE_SCHEMA": "PUBLIC",
        # keep the DuckDB runs' artefacts (dbt_stocks/target) out of it
        "DBT_TARGET_PATH": str(PROJECT_DIR / "target" / "snowflake_emulator"),
    }.items():
        os.environ.setdefault(name, value)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    if os.environ["SNOWFLAKE_DATABASE"].upper() != DATABASE:
        parser.error(f"SNOWFLAKE_DATABASE must be {DATABASE} (or unset) for the emulator")
    # fakesnow's result conversion and sqlglot's translation are chatty
    warnings.filterwarnings("ignore", category=UserWarning, module="fakesnow")
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    rows = read_raw(opts.raw_from, opts.limit)
    # the trades, all landed with the first load
    trades = read_raw(opts.raw_from, None, "source_stock_trades")
    if not rows:
        parser.error(f"{opts.raw_from} has no rows in raw.source_stock_quotes")
    loads: list[list[tuple]] = []
    for row in rows:
        if opts.per_load and loads and loads[-1][-1][7] == row[7]:
            loads[-1].append(row)
        elif opts.per_load or not loads:
            loads.append([row])
        else:
            loads[0].append(row)

    allow_qualified_temporary_tables()
    code = 0
    with fakesnow.patch(db_path=opts.db_path):
        create_raw()
        if trades:
            log(f"landed {len(trades)} trades, RAW.SOURCE_STOCK_TRADES has {land(trades, 'SOURCE_STOCK_TRADES')}")
        for number, load in enumerate(loads, 1):
            total = land(load)
            log(f"load {number} of {len(loads)}: landed {len(load)} rows, RAW.SOURCE_STOCK_QUOTES has {total}")
            code = run_dbt(opts.dbt_args or ["build"])
            log(f"load {number} of {len(loads)}: dbt exited {code}")
            if code != 0:
                return code
        if opts.compare and not compare(opts.raw_from):
            return 3
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
