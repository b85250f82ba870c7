import assert from "node:assert/strict";
import { emptyCounters } from "../../lib/app/cycle.ts";
import { checkDbtAdapter, checkTargets } from "../../lib/app/follow.ts";
import { checkStatus, StatusFile } from "../../lib/app/follow_status.ts";
import { loadConfig } from "../../lib/runtime/config.ts";

Deno.test("StatusFile rewrites the file on each update, and checkStatus() reads it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/status/follow.json`;
    let clock = Date.parse("2026-12-01T10:00:00Z");
    const status = new StatusFile(path, () => clock);
    const counters = emptyCounters();
    counters.step = "load";
    status.update(counters);
    let read = await checkStatus(path, 60_000, clock);
    assert.equal(read.step, "load");
    assert.equal(read.rows, 0);
    assert.equal(read.pid, Deno.pid);
    counters.rows = 10;
    clock += 500;
    counters.step = "transform";
    status.update(counters);
    read = await checkStatus(path, 60_000, clock);
    assert.equal(read.step, "transform");
    assert.equal(read.rows, 10);
    assert.equal(read.updated_at, "2026-12-01T10:00:00.500Z");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStatus() fails on a missing, stale, stopped or failed service", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/follow.json`;
    await assert.rejects(checkStatus(path, 1_000), {
      message:
        `Cannot report the follow service healthy as its status file ${path} does not exist: is 'deno task follow' running with this FOLLOW_STATUS_PATH?`,
    });
    let clock = Date.parse("2026-12-01T10:00:00Z");
    const status = new StatusFile(path, () => clock);
    const counters = emptyCounters();
    counters.step = "idle";
    status.update(counters);
    await checkStatus(path, 1_000, clock + 1_000);
    await assert.rejects(checkStatus(path, 1_000, clock + 1_001), {
      message:
        `Cannot report the follow service healthy as its status file ${path} was last written 1001 ms ago, in step 'idle', longer than FOLLOW_STALL_MS (1000 ms): the process is gone or stuck`,
    });
    clock += 10;
    status.end(counters);
    await assert.rejects(checkStatus(path, 1_000, clock), {
      message:
        "Cannot report the follow service healthy as it stopped at 2026-12-01T10:00:00.010Z",
    });
    status.end(counters, "dbt run failed");
    await assert.rejects(checkStatus(path, 1_000, clock), {
      message:
        "Cannot report the follow service healthy as it failed at 2026-12-01T10:00:00.010Z: dbt run failed",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkTargets() refuses a dbt target other than the warehouse the loader fills", () => {
  checkTargets(loadConfig({}));
  checkTargets(loadConfig({ WAREHOUSE: "snowflake", DBT_TARGET: "snowflake" }));
  assert.throws(() => checkTargets(loadConfig({ WAREHOUSE: "snowflake" })), {
    name: "RangeError",
    message:
      "Cannot follow as dbt would build another warehouse than the loader fills: WAREHOUSE is snowflake and DBT_TARGET is duckdb; set DBT_TARGET=snowflake",
  });
});

Deno.test("checkDbtAdapter() finds the target's adapter in the virtualenv, or says how to install it", async () => {
  const venv = await Deno.makeTempDir();
  try {
    const adapters = `${venv}/lib/python3.11/site-packages/dbt/adapters`;
    await Deno.mkdir(`${adapters}/duckdb`, { recursive: true });
    await checkDbtAdapter(loadConfig({}), venv);
    await assert.rejects(
      checkDbtAdapter(
        loadConfig({ WAREHOUSE: "snowflake", DBT_TARGET: "snowflake" }),
        venv,
      ),
      {
        message:
          `Cannot follow with DBT_TARGET=snowflake as the virtualenv ${venv} has no dbt-snowflake: install it beside requirements.txt (${venv}/bin/pip install dbt-snowflake, at the version dbt_stocks/Dockerfile pins)`,
      },
    );
    await Deno.mkdir(`${adapters}/snowflake`);
    await checkDbtAdapter(
      loadConfig({ WAREHOUSE: "snowflake", DBT_TARGET: "snowflake" }),
      venv,
    );
  } finally {
    await Deno.remove(venv, { recursive: true });
  }
});
