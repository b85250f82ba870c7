import assert from "node:assert/strict";
import { DbtWorker } from "../../lib/transform/dbt.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { assertSuccess, count, run, stateIn, SYMBOLS } from "../_helpers.ts";

Deno.test({
  name:
    "DbtWorker runs commands on one parsed project, releasing the DuckDB file between them",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;
    await (await DuckDBWarehouse.open(db)).close(); // RAW, empty
    const worker = await DbtWorker.start({ duckdbPath: db });
    try {
      // The models read the seeds (exchanges and sessions), as each cycle's first run loads them.
      const seeded = await worker.run(["seed"]);
      assert.equal(seeded.success, true, seeded.output);
      const first = await worker.run(["run"]);
      assert.equal(first.success, true, first.output);
      assert.match(first.summary, /^Done\. PASS=\d+ WARN=0 ERROR=0/);
      // The file is free as soon as a command has answered: no lock wait.
      const warehouse = await DuckDBWarehouse.open(db, { lockWaitMs: 0 });
      const [[built]] = await warehouse.query(
        "select count(*) from information_schema.tables where table_schema = 'gold'",
      );
      assert.ok(Number(built) >= 4, `gold relations: ${built}`);
      await warehouse.close();

      const failed = await worker.run([
        "show",
        "--inline",
        "select * from no_such_table_zz",
      ]);
      assert.equal(failed.success, false);
      assert.equal(failed.code, 1);
      assert.match(failed.output, /no_such_table_zz/);

      // A failed command leaves the worker able to run the next.
      const again = await worker.run(["run", "--select", "gold_latest_kpi"]);
      assert.equal(again.success, true, again.output);
    } finally {
      await worker.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "demo --continuous loads and transforms while quotes land, and measures every quote's freshness",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;
    const demo = await run(
      "demo.ts",
      ["--continuous", "--duration", "8s"],
      { ...stateIn(dir), LOG_FORMAT: "json" },
    );
    assertSuccess(demo, "demo --continuous");
    const logs = demo.stderr.split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    const landed = logs.find((r) => r.msg === "landed");
    const freshness = logs.find((r) => r.msg === "freshness");
    assert.ok(landed && freshness, demo.stderr);

    // Several cycles ran, each quote was loaded once and measured once.
    const raw = await count(db, "select count(*) from raw.source_stock_quotes");
    assert.equal(raw, landed.events);
    assert.ok(raw >= 20, `5 quotes a second for 8 s: ${raw}`);
    // Loaded counts every kind: the simulated trades came along.
    const trades = await count(
      db,
      "select count(*) from raw.source_stock_trades",
    );
    assert.ok(trades > 0, "trades loaded");
    assert.equal(freshness.loaded, raw + trades);
    assert.equal(freshness.raw_samples, raw);
    assert.ok(freshness.cycles >= 2, `cycles: ${freshness.cycles}`);
    assert.ok(freshness.dbt_runs >= 2, `dbt runs: ${freshness.dbt_runs}`);
    // Each symbol's row in gold_latest_kpi was seen at least once.
    assert.ok(
      freshness.gold_samples >= SYMBOLS.length,
      `gold samples: ${freshness.gold_samples}`,
    );
    for (const prefix of ["raw", "gold"]) {
      const [p50, p95, p99, max] = ["p50", "p95", "p99", "max"].map((p) =>
        freshness[`${prefix}_${p}_ms`] as number
      );
      assert.ok(
        0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max,
        `${prefix}: ${p50} ${p95} ${p99} ${max}`,
      );
    }
    // The two medians are of different quotes: gold measures only each
    // symbol's newest quote at a dbt run, the quote that waited least for its
    // load, so gold's median may fall below RAW's when a cycle outlasts dbt.

    // The closing build passed, and what it prints.
    assert.ok(
      logs.some((r) => r.msg === "dbt build passed"),
      "final dbt build",
    );
    for (const symbol of SYMBOLS) {
      assert.match(
        demo.stdout,
        new RegExp(`^${symbol}\\s+\\d+\\.\\d{2}\\s`, "m"),
      );
    }
    assert.match(
      demo.stdout,
      /to its RAW row: +p50 \d+\.\d\d s, p95 \d+\.\d\d s, p99 \d+\.\d\d s \(\d+ quotes\)/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("demo --continuous refuses a warehouse it cannot measure", async () => {
  const dir = await Deno.makeTempDir();
  const demo = await run("demo.ts", ["--continuous"], {
    ...stateIn(dir),
    WAREHOUSE: "snowflake",
  });
  assert.equal(demo.code, 1);
  assert.match(
    demo.stderr,
    /Cannot run --continuous as it measures freshness in the DuckDB warehouse: WAREHOUSE is snowflake/,
  );
  await Deno.remove(dir, { recursive: true });
});
