"""A long-lived dbt for `deno task demo --continuous` (lib/transform/dbt.ts's DbtWorker).

dbt's start-up (imports, reading the project) costs a few seconds per command,
more than an incremental run of this project. This process pays it once: it
parses the project, then runs each command it is sent on the parsed manifest.

Protocol: one JSON request per line on stdin, {"args": ["run", ...]}; one
JSON response per line on the original stdout: first {"ready": true} (or
{"ready": false, "error": ...}), then {"success": bool, "error": str|null}
per request. dbt's own output goes to stderr. After each command the DuckDB
file is closed, so the Deno loader can open it between two commands.

Usage: python dbt_worker.py PROJECT_DIR TARGET
"""

import json
import os
import sys


def release_duckdb() -> None:
    """Closes dbt-duckdb's shared database handle, which outlives a command."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing held between commands
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
        DuckDBConnectionManager._ENV = None


def main() -> int:
    project_dir, target = sys.argv[1], sys.argv[2]
    # Responses keep the original stdout; everything else printed goes to stderr.
    responses = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def respond(message: dict) -> None:
        sys.stderr.flush()  # dbt's output for this command first
        responses.write(json.dumps(message) + "\n")

    from dbt.cli.main import dbtRunner

    common = ["--project-dir", project_dir, "--profiles-dir", project_dir, "--target", target]
    parsed = dbtRunner().invoke(["parse", *common])
    release_duckdb()
    if not parsed.success:
        respond({"ready": False, "error": str(parsed.exception or "dbt parse failed")})
        return 1
    manifest = parsed.result
    respond({"ready": True})

    for line in sys.stdin:
        if not line.strip():
            continue
        args = json.loads(line)["args"]
        try:
            result = dbtRunner(manifest=manifest).invoke([*args, *common])
            success, error = result.success, result.exception
        except Exception as exception:  # reported to the caller, the worker goes on
            success, error = False, exception
        finally:
            release_duckdb()
        respond({"success": success, "error": None if error is None else str(error)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
