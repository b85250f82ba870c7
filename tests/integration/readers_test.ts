/**
 * Readers beside a running pipeline, as an analyst is: a separate process
 * with a DuckDB file open read-only (tests/_reader.ts), kept open while the
 * entry points load and build. A reader of the gold copy never stalls the
 * loader or dbt and keeps the copy it opened until it opens the path again;
 * a reader of the warehouse itself is named by the load it stalls.
 */
import assert from "node:assert/strict";
import {
  assertSuccess,
  type Run,
  run as runScript,
  snapshot,
  spawn,
  stateIn,
  watch,
  withWarehouse,
} from "../_helpers.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { startReader } from "../_reader.ts";
import { until } from "../_wait.ts";

/** Runs an entry point with the pipeline's state under `dir`. */
function run(
  script: string,
  args: string[],
  dir: string,
  env: Record<string, string> = {},
): Promise<Run> {
  return runScript(script, args, { ...stateIn(dir), ...env });
}

const GOLD = [
  "gold.gold_latest_kpi",
  "gold.gold_candles",
  "gold.gold_volatility",
  "gold.gold_treechart",
];

/** When the copy at `path` was published, and the quotes its candles count. */
const COPY_STATE =
  "select (select published_at::varchar from main.published), (select sum(quote_count)::integer from gold.gold_candles where timeframe = '1d')";

/** Lands `n` more simulated events in the lake under `dir`. */
async function land(dir: string, n: number): Promise<void> {
  assertSuccess(
    await run("producer.ts", ["--count", String(n), "--rate", "1000"], dir),
    "produce",
  );
  assertSuccess(await run("consumer.ts", ["--drain"], dir), "consume");
}

Deno.test({
  name:
    "with a reader open on the gold copy, a load finishes without waiting, and after the next build a new reader sees the new gold while the first keeps its own",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;
    const copy = `${dir}/gold_copy.duckdb`;
    const demo = await run("demo.ts", ["--count", "25", "--rate", "1000"], dir);
    assertSuccess(demo, "demo");
    assert.match(demo.stdout, /Gold copy for readers, open it read-only: /);

    const reader = await startReader(copy);
    try {
      const [[publishedBefore, quotesBefore]] = await reader.query(COPY_STATE);
      assert.equal(quotesBefore, 25);

      await land(dir, 25);
      const load = await run("loader.ts", [], dir);
      assertSuccess(load, "load with a reader on the gold copy");
      assert.doesNotMatch(load.stderr, /waiting for the DuckDB file's lock/);
      assert.match(load.stderr, /msg="load finished" .*inserted=25 /);

      const transform = await run("scripts/transform.ts", [], dir);
      assertSuccess(transform, "transform with a reader on the gold copy");
      assert.match(
        transform.stderr,
        /msg="published the gold copy" .*tables=6 /,
      );

      // The reader still has the copy it opened; a new one gets the new gold.
      assert.deepEqual(await reader.query(COPY_STATE), [[
        publishedBefore,
        quotesBefore,
      ]]);
      const next = await startReader(copy);
      try {
        const [[publishedAfter, quotesAfter]] = await next.query(COPY_STATE);
        assert.ok(
          (publishedAfter as string) > (publishedBefore as string),
          `${publishedAfter} after ${publishedBefore}`,
        );
        const silver = await withWarehouse(
          db,
          (query) =>
            query(
              "select count(*)::integer from silver.silver_clean_stock_quotes",
            ),
        );
        assert.deepEqual([[quotesAfter]], silver);
        assert.ok((quotesAfter as number) > 25);
      } finally {
        await next.close();
      }
      assert.deepEqual(await snapshot(copy, GOLD), await snapshot(db, GOLD));
    } finally {
      await reader.close();
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "a reader holding the warehouse itself is named by the load it stalls, in one line, and the load goes on once it leaves",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;
    await land(dir, 10);
    await (await DuckDBWarehouse.open(db)).close(); // RAW, empty
    const reader = await startReader(db);
    const load = watch("loader.ts", [], { ...stateIn(dir) });
    try {
      const waiting = await load.lines.until(
        /msg="waiting for the DuckDB file's lock"/,
        30_000,
      );
      assert.match(waiting, new RegExp(` holder_pid=${reader.pid} `));
      assert.match(waiting, / holder_program=\S*deno /);
      assert.match(waiting, / holder_command="\S*deno run .*_reader\.ts /);
      await reader.close();
      await load.lines.until(/msg="got the DuckDB file's lock"/, 30_000);
      await load.lines.until(/msg="load finished" .*inserted=10 /, 30_000);
      assert.equal((await load.child.status).code, 0);
      const waits = load.lines.all.filter((line) =>
        /waiting for the DuckDB file's lock/.test(line)
      );
      assert.equal(waits.length, 1, waits.join("\n"));
    } finally {
      await reader.close().catch(() => {});
      await load.lines.drain();
      await load.child.status;
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "demo --continuous republishes the gold copy under a reader that holds it open: the reader keeps its copy, a new reader sees newer gold, and no load waits",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;
    const copy = `${dir}/gold_copy.duckdb`;
    const demo = spawn(
      "demo.ts",
      ["--continuous", "--duration", "12s"],
      { ...stateIn(dir), LOG_FORMAT: "json", DUCKDB_GOLD_COPY_EVERY_MS: "500" },
    );
    const exists = () => Deno.stat(copy).then(() => true, () => false);
    await until(exists, { timeoutMs: 60_000, what: "the first gold copy" });
    const reader = await startReader(copy);
    try {
      const [held] = await reader.query(COPY_STATE);
      const published = async () =>
        String((await withWarehouse(copy, (query) => query(COPY_STATE)))[0][0]);
      await until(async () => await published() > String(held[0]), {
        timeoutMs: 30_000,
        what: "a newer gold copy",
      });
      assert.deepEqual(await reader.query(COPY_STATE), [held]);
      const result = await demo.finished;
      assertSuccess(result, "demo --continuous");
      assert.doesNotMatch(result.stderr, /waiting for the DuckDB file's lock/);
      const freshness = result.stderr.split("\n")
        .filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
        .find((record) => record.msg === "freshness");
      assert.ok(
        freshness.gold_copy_samples >= 2,
        `copies in the cycles: ${freshness.gold_copy_samples}`,
      );
      // Readers' gold ends as the warehouse's.
      assert.deepEqual(await snapshot(copy, GOLD), await snapshot(db, GOLD));
      assert.deepEqual(await reader.query(COPY_STATE), [held]);
    } finally {
      await reader.close();
      await demo.finished;
    }
    await Deno.remove(dir, { recursive: true });
  },
});
