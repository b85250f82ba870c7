/**
 * dbt checks beyond `dbt build` (which the pipeline tests run through
 * `demo.ts`), on a warehouse made by a real pipeline run: source freshness
 * (fresh passes, stale fails), `dbt docs generate`, the unit tests, and the
 * `snowflake` target on the fakesnow emulator (dev/snowflake_emulator.py)
 * compared row for row with DuckDB.
 *
 * Every dbt command writes its artefacts and logs to a temporary folder, not
 * `dbt_stocks/target`, which other runs share.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  DAILY_BUILD,
  FREQUENT_BUILD,
  runDbt,
} from "../../lib/transform/dbt.ts";
import { ensureVenv } from "../../lib/transform/venv.ts";
import { toolVenv } from "../../dev/cache.ts";
import {
  assertSuccess,
  count,
  ROOT,
  run,
  stateIn,
  withWarehouse,
} from "../_helpers.ts";

/** A pipeline's state: its folder and DuckDB warehouse. */
interface Pipeline {
  dir: string;
  db: string;
}

let pipeline: Promise<Pipeline> | undefined;

/**
 * The shared warehouse: two pipeline runs (two loads, the second one through
 * the incremental models), each ending with `dbt build`. Tests that change
 * it work on a copy.
 */
function pipelineWarehouse(): Promise<Pipeline> {
  pipeline ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "dbt_test_" });
    globalThis.addEventListener("unload", () => {
      Deno.removeSync(dir, { recursive: true });
    });
    for (const count of ["200", "100"]) {
      assertSuccess(
        await run(
          "demo.ts",
          ["--count", count, "--rate", "100000"],
          stateIn(dir),
        ),
        `demo --count ${count}`,
      );
    }
    return { dir, db: join(dir, "warehouse.duckdb") };
  })();
  return pipeline;
}

/** A copy of the shared warehouse that a test may change. */
async function copyWarehouse(name: string): Promise<string> {
  const { dir, db } = await pipelineWarehouse();
  const copy = join(dir, `${name}.duckdb`);
  await Deno.copyFile(db, copy);
  return copy;
}

/** Runs statements on a warehouse opened read-write, closing it after. */
async function execute(path: string, statements: string[]): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    for (const sql of statements) await connection.run(sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** `--target-path` and `--log-path` in a new temporary folder, and the folder. */
async function scratchPaths(): Promise<{ dir: string; args: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "dbt_target_" });
  return { dir, args: ["--target-path", dir, "--log-path", dir] };
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

interface FreshnessResult {
  unique_id: string;
  status: string;
  max_loaded_at_time_ago_in_s: number;
}

/** Runs `dbt source freshness` on a warehouse; returns its exit status and sources.json results. */
async function freshness(
  db: string,
): Promise<{ success: boolean; output: string; results: FreshnessResult[] }> {
  const { dir, args } = await scratchPaths();
  try {
    const result = await runDbt(["source", "freshness", ...args], {
      duckdbPath: db,
    });
    const sources = await readJson(join(dir, "sources.json"));
    return {
      success: result.success,
      output: result.output,
      results: sources.results as FreshnessResult[],
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SOURCE = "source.dbt_stocks.raw.source_stock_quotes";

Deno.test({
  name: "dbt source freshness passes on the data a pipeline run just loaded",
  sanitizeResources: false,
  async fn() {
    const { db } = await pipelineWarehouse();
    const { success, output, results } = await freshness(db);
    assert.ok(success, `dbt source freshness failed:\n${output}`);
    assert.equal(results.length, 1);
    assert.equal(results[0].unique_id, SOURCE);
    assert.equal(results[0].status, "pass");
    assert.ok(results[0].max_loaded_at_time_ago_in_s < 3600);
  },
});

Deno.test({
  name:
    "dbt source freshness warns after an hour without a load and fails after 24 hours",
  sanitizeResources: false,
  async fn() {
    const db = await copyWarehouse("stale");
    // Age the whole RAW table, as if the loader had stopped: 2 h, then 25 h in all.
    await execute(db, [
      "update raw.source_stock_quotes set loaded_at = loaded_at - interval 2 hour",
    ]);
    const warned = await freshness(db);
    assert.ok(warned.success, `a warning must not fail:\n${warned.output}`);
    assert.equal(warned.results[0].status, "warn");

    await execute(db, [
      "update raw.source_stock_quotes set loaded_at = loaded_at - interval 23 hour",
    ]);
    const stale = await freshness(db);
    assert.equal(stale.success, false, "25 h without a load must fail");
    assert.equal(stale.results[0].status, "error");
    assert.ok(stale.results[0].max_loaded_at_time_ago_in_s > 25 * 3600 - 60);
    assert.match(
      stale.output,
      /ERROR STALE freshness of raw\.source_stock_quotes/,
    );
  },
});

Deno.test({
  name: "dbt docs generate writes a catalog with every model and the source",
  sanitizeResources: false,
  async fn() {
    const { db } = await pipelineWarehouse();
    const { dir, args } = await scratchPaths();
    try {
      const result = await runDbt(["docs", "generate", ...args], {
        duckdbPath: db,
      });
      assert.ok(result.success, `dbt docs generate failed:\n${result.output}`);
      const manifest = await readJson(join(dir, "manifest.json"));
      const models = Object.entries(
        manifest.nodes as Record<string, { resource_type: string }>,
      ).filter(([, node]) => node.resource_type === "model").map(([id]) => id)
        .sort();
      assert.ok(models.length >= 8, `models: ${models}`);
      const catalog = await readJson(join(dir, "catalog.json"));
      const nodes = catalog.nodes as Record<
        string,
        { columns: Record<string, unknown> }
      >;
      assert.deepEqual(
        Object.keys(nodes).filter((id) => id.startsWith("model.")).sort(),
        models,
      );
      assert.deepEqual(
        Object.keys(nodes).filter((id) => id.startsWith("seed.")).sort(),
        [
          "seed.dbt_stocks.exchange_symbols",
          "seed.dbt_stocks.trading_sessions",
        ],
      );
      for (const id of models) {
        assert.ok(
          Object.keys(nodes[id].columns).length > 0,
          `${id} has no columns in the catalog`,
        );
      }
      assert.deepEqual(Object.keys(catalog.sources as object).sort(), [
        SOURCE,
        "source.dbt_stocks.raw.source_stock_trades",
      ]);
      assert.deepEqual(catalog.errors, null);
      await Deno.stat(join(dir, "index.html"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "dbt test --select test_type:unit runs every unit test and passes",
  sanitizeResources: false,
  async fn() {
    const { db } = await pipelineWarehouse();
    const { dir, args } = await scratchPaths();
    try {
      const result = await runDbt(
        ["test", "--select", "test_type:unit", ...args],
        { duckdbPath: db },
      );
      assert.ok(result.success, `unit tests failed:\n${result.output}`);
      const manifest = await readJson(join(dir, "manifest.json"));
      const unitTests = Object.keys(manifest.unit_tests as object).length;
      assert.ok(unitTests >= 9, `only ${unitTests} unit tests`);
      assert.match(
        result.summary,
        new RegExp(
          `^Done\\. PASS=${unitTests} WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=${unitTests}$`,
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Runs the data test that holds gold_latest_kpi's day to its daily candle,
 * storing its failing rows, and returns the outcome and those rows.
 */
async function dailyCandleTest(
  db: string,
): Promise<{ success: boolean; output: string; failures: unknown[][] }> {
  const { dir, args } = await scratchPaths();
  try {
    const result = await runDbt([
      "test",
      "--select",
      "assert_latest_kpi_matches_daily_candle",
      "--store-failures",
      ...args,
    ], { duckdbPath: db });
    const failures = result.success ? [] : await withWarehouse(
      db,
      (query) =>
        query(
          `select symbol, day_high, candle_high, day_low, candle_low, day_open, candle_open
           from dbt_test__audit.assert_latest_kpi_matches_daily_candle order by symbol`,
        ),
    );
    return { success: result.success, output: result.output, failures };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "gold_latest_kpi's day is its daily candle's after two pipeline runs, and the data test fails on the quote's own figures",
  sanitizeResources: false,
  async fn() {
    // Two simulated runs into one warehouse: the day's figures agree.
    const { db } = await pipelineWarehouse();
    const passed = await dailyCandleTest(await copyWarehouse("candle-pass"));
    assert.ok(passed.success, `the data test failed:\n${passed.output}`);
    const days = await withWarehouse(db, (query) =>
      query(`
        select count(*)::integer from gold.gold_latest_kpi k
        join gold.gold_candles c on c.symbol = k.symbol and c.timeframe = '1d'
          and cast(c.bucket_start as date) = k.quote_date
        where k.day_high = c.high and k.day_low = c.low`));
    assert.deepEqual(days, [[5]]);

    // A day of known ticks whose quotes report their own h, l, o (105, 95,
    // 100) while the ticks range from 98.7 to 103.1; gold_latest_kpi as it
    // was defined before, from the latest quote's own figures, must fail.
    const dir = await Deno.makeTempDir({ prefix: "dbt_candle_" });
    try {
      assertSuccess(
        await run("demo.ts", [
          "--source",
          "replay",
          "--file",
          "tests/fixtures/known_ticks.ndjson",
        ], stateIn(dir)),
        "replay",
      );
      const ticks = join(dir, "warehouse.duckdb");
      assert.ok((await dailyCandleTest(ticks)).success);
      await execute(ticks, [
        `update gold.gold_latest_kpi as k
         set day_open = s.open, day_high = s.high, day_low = s.low, prev_close = s.prev_close
         from silver.silver_clean_stock_quotes as s
         where s.symbol = k.symbol and s.quote_ts = k.quote_ts`,
      ]);
      const failed = await dailyCandleTest(ticks);
      assert.equal(failed.success, false, "the quote's own figures passed");
      assert.deepEqual(failed.failures, [
        ["AAPL", 105, 103.1, 95, 98.7, 100, 100],
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ------------------------------------------------- incremental = full refresh

/** The silver and gold tables an incremental run changes. */
const INCREMENTAL_MODELS = [
  "silver.silver_clean_stock_quotes",
  "silver.silver_quarantined_stock_quotes",
  "gold.gold_candles",
  "gold.gold_volatility",
  "gold.gold_latest_kpi",
  "gold.gold_treechart",
  "silver.silver_clean_stock_trades",
  "gold.gold_trade_candles",
];

/**
 * Every row of each model as text, sorted, without transformed_at (when a
 * build wrote the row: a full refresh writes every row again).
 */
function modelRows(db: string): Promise<Record<string, string[]>> {
  return withWarehouse(db, async (query) => {
    const rows: Record<string, string[]> = {};
    for (const model of INCREMENTAL_MODELS) {
      const [[stamped]] = await query(
        `select count(*) from information_schema.columns
         where table_schema || '.' || table_name = '${model}' and column_name = 'transformed_at'`,
      );
      const select = Number(stamped) > 0
        ? `select * exclude (transformed_at) from ${model}`
        : `select * from ${model}`;
      rows[model] = (await query(select)).map((row) =>
        JSON.stringify(row, (_, v) => typeof v === "bigint" ? String(v) : v)
      ).sort();
    }
    return rows;
  });
}

/**
 * RAW rows made from RAW's own lines (one in `every` of them), under a log
 * of their own (stream_id `test:<name>`), stamped `loadedAt` (SQL):
 * `late` quotes `lateSeconds` before a landed one, where RAW has none (new
 * keys in old minutes: the earliest landed quotes always give some); `revised` newer fetches of landed quotes
 * at another price; `replayed` the same lines again (a replay changes
 * nothing); `invalid` lines with a zero price (quarantined).
 */
function extraRows(
  kind: "late" | "revised" | "replayed" | "invalid",
  name: string,
  every: number,
  loadedAt: string,
  lateSeconds = 90,
): string {
  const v = {
    late: `json_merge_patch(v, json_object(
      't', (v->>'t')::bigint - ${lateSeconds}, 'c', round((v->>'c')::double * 1.003, 2)))`,
    revised: `json_merge_patch(v, json_object(
      'fetched_at', (v->>'fetched_at')::bigint + 1000 * ${every},
      'c', round((v->>'c')::double * 0.997, 2)))`,
    replayed: "v",
    invalid: "json_merge_patch(v, json_object('c', 0))",
  }[kind];
  const late = kind === "late"
    ? `and not exists (
         select 1 from raw.source_stock_quotes as earlier
         where (earlier.v->>'symbol') = (landed.v->>'symbol')
           and (earlier.v->>'t')::bigint = (landed.v->>'t')::bigint - ${lateSeconds})`
    : "";
  return `insert into raw.source_stock_quotes
    select ${v}::json, 'test:${name}', stream_topic, stream_partition,
      row_number() over (order by stream_offset), stream_timestamp,
      'test/${name}.ndjson', ${loadedAt}
    from raw.source_stock_quotes as landed
    where stream_id not like 'test:%' and stream_offset % ${every} = 0 ${late}`;
}

/**
 * RAW trade rows made from landed quotes (one in `every`), under a log of
 * their own (`test:<name>`), stamped `loadedAt` (SQL), `shiftSeconds` before
 * the quote: price the quote's, volume 0 (a price update) for one in 7, and
 * each line twice when `twice` (identical prints, distinct coordinates).
 */
function tradeRows(
  name: string,
  every: number,
  loadedAt: string,
  shiftSeconds = 0,
  twice = false,
): string {
  const copies = twice ? 2 : 1;
  return `insert into raw.source_stock_trades
    select json_object('symbol', v->>'symbol', 'p', (v->>'c')::double,
        'v', (stream_offset % 7) * 10, 't', ((v->>'t')::bigint - ${shiftSeconds}) * 1000 + stream_offset % 1000,
        'c', json_array('1'), 'fetched_at', (v->>'fetched_at')::bigint, 'source', 'test'),
      'test:${name}', 'stock-trades', stream_partition,
      row_number() over (order by stream_offset, copy), stream_timestamp,
      'test/${name}.ndjson', ${loadedAt}
    from raw.source_stock_quotes as landed, range(${copies}) as copies(copy)
    where stream_id not like 'test:%' and stream_offset % ${every} = 0`;
}

/** Quotes (symbol, t) of one test log. */
function newKeys(db: string, streamId: string): Promise<number> {
  return count(
    db,
    `select count(distinct (v->>'symbol', v->>'t')) from raw.source_stock_quotes
     where stream_id = '${streamId}'`,
  );
}

Deno.test({
  name:
    "incremental frequent builds after late, revised, replayed and late-committed rows equal a --full-refresh",
  sanitizeResources: false,
  async fn() {
    const db = await copyWarehouse("incremental");
    const { dir, args } = await scratchPaths();
    const build = async (command: readonly string[]) => {
      const result = await runDbt([...command, ...args], { duckdbPath: db });
      assert.ok(result.success, `dbt ${command.join(" ")}:\n${result.output}`);
    };
    const silverRows = () =>
      count(db, "select count(*) from silver.silver_clean_stock_quotes");
    try {
      const before = await silverRows();
      // A load of late quotes, revised quotes and a replay, then the frequent build.
      await execute(db, [
        extraRows("late", "late", 3, "now()"),
        extraRows("revised", "revised", 4, "now()"),
        extraRows("replayed", "replayed", 5, "now()"),
        extraRows("invalid", "invalid", 9, "now()"),
        tradeRows("trades", 2, "now()", 0, true),
      ]);
      await build(FREQUENT_BUILD);
      const late = await newKeys(db, "test:late");
      assert.ok(late > 0, "no late quotes to add");
      assert.equal(await silverRows(), before + late, "the late quotes");

      // A load stamped 3 minutes before RAW's newest that commits after the
      // build (a late commit inside silver's lookback): a quote 150 s before
      // the first landed one of each partition, alone in its minute, so that
      // the next minute with quotes, untouched by this load, must be rebuilt
      // for its first return; and invalid lines.
      const stamp =
        "(select max(loaded_at) - interval 3 minute from raw.source_stock_quotes)";
      await execute(db, [
        extraRows("late", "late-commit", 1_000_000, stamp, 150),
        extraRows("invalid", "invalid-late-commit", 7, stamp),
        tradeRows("trades-late-commit", 3, stamp, 150),
      ]);
      const lateCommit = await newKeys(db, "test:late-commit");
      assert.ok(lateCommit > 0, "no late-committed quotes to add");
      await build(FREQUENT_BUILD);
      assert.equal(
        await silverRows(),
        before + late + lateCommit,
        "the late-committed quotes",
      );
      const incremental = await modelRows(db);

      await build([...DAILY_BUILD, "--full-refresh"]);
      const full = await modelRows(db);
      for (const model of INCREMENTAL_MODELS) {
        assert.ok(full[model].length > 0, `${model} is empty`);
        assert.deepEqual(incremental[model], full[model], model);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------- Snowflake

// In the user cache, beside Kafka's jars and MinIO: a fresh clone reuses it.
const SNOWFLAKE_VENV = toolVenv("snowflake");
const SNOWFLAKE_REQUIREMENTS = join(ROOT, "requirements-snowflake.txt");

/**
 * Creates or updates the emulator's virtualenv from requirements-snowflake.txt
 * with the project's own `ensureVenv`; throws when Python or pip fails, so
 * the test fails rather than skips.
 */
async function ensureSnowflakeVenv(): Promise<string> {
  await ensureVenv(SNOWFLAKE_VENV, SNOWFLAKE_REQUIREMENTS);
  return join(SNOWFLAKE_VENV, "bin", "python");
}

/**
 * RAW lines the loader's validator would reject, landed straight into RAW:
 * mistyped, missing and out-of-range fields that bronze must turn into
 * nulls and silver must quarantine, plus one valid quote whose numbers come
 * as text and in exponent form.
 */
const ODD_LINES = [
  { symbol: "ODD", c: "not a number", t: 1795000000 },
  { c: 101, t: 1795000001 },
  { symbol: "   ", c: 101, t: 1795000002 },
  { symbol: "ODD", c: 101, t: -5 },
  { symbol: "ODD", c: 101, t: 1795000004, fetched_at: "soon" },
  { symbol: "ODD", c: null, t: 1795000005 },
  { symbol: "ODD", c: 101, t: 1e20 },
  // valid: c in exponent form (written below), t as text
  { symbol: "ODD", c: "EXPONENT", t: "1795000007" },
];

function oddQuote(
  line: Record<string, unknown>,
  offset: number,
): Record<string, unknown> {
  const base = {
    c: 100,
    d: 1,
    dp: 1,
    h: 200,
    l: 50,
    o: 100,
    pc: 99,
    fetched_at: 1795000100000,
    source: "simulated",
  };
  const quote: Record<string, unknown> = { ...base, ...line };
  quote._stream = {
    id: "test:odd",
    topic: "stock-quotes",
    partition: 0,
    offset,
  };
  return quote;
}

Deno.test({
  name:
    "the snowflake target builds on the fakesnow emulator, load by load, into the same bronze, silver and gold rows as DuckDB",
  sanitizeResources: false,
  async fn() {
    const python = await ensureSnowflakeVenv();
    // A third load of odd lines, then dbt build on DuckDB: the reference.
    const db = await copyWarehouse("snowflake");
    await execute(db, [
      `insert into raw.source_stock_quotes
       select v::json, 'test:odd', 'stock-quotes', 0, o, now(), 'test/odd.ndjson', now()
       from (values ${
        ODD_LINES.map((line, offset) =>
          `('${
            JSON.stringify(oddQuote(line, offset)).replace(
              '"c":"EXPONENT"',
              '"c":1.5e2',
            )
          }', ${offset})`
        ).join(", ")
      }) as t(v, o)`,
      // trades, identical prints and v = 0 price updates among them
      tradeRows("trades", 2, "now()", 0, true),
    ]);
    const { dir, args } = await scratchPaths();
    try {
      const reference = await runDbt(["build", ...args], { duckdbPath: db });
      assert.ok(reference.success, `DuckDB build failed:\n${reference.output}`);
      const quarantined = await withWarehouse(
        db,
        async (query) =>
          (await query(
            "select reason from silver.silver_quarantined_stock_quotes order by stream_offset",
          )).map((row) => row[0]),
      );
      assert.deepEqual(quarantined, [
        "missing_price",
        "missing_symbol",
        "missing_symbol",
        "missing_quote_ts",
        "missing_fetched_at",
        "missing_price",
        "missing_quote_ts",
      ]);

      const out = await new Deno.Command(python, {
        args: [
          "dev/snowflake_emulator.py",
          "--raw-from",
          db,
          "--per-load",
          "--compare",
          "--",
          "build",
          ...args,
        ],
        cwd: ROOT,
        env: { DBT_SEND_ANONYMOUS_USAGE_STATS: "false" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `emulator run failed:\n${output}`);

      // Three loads, each built in full: every model, data test and unit test.
      const summaries = [
        ...output.matchAll(/Done\. PASS=(\d+) .*TOTAL=(\d+)/g),
      ];
      assert.equal(summaries.length, 3, output);
      for (const [line, pass, total] of summaries) {
        assert.equal(pass, total, line);
        assert.match(line, /WARN=0 ERROR=0 SKIP=0/);
      }
      assert.equal(
        summaries[0][2],
        reference.summary.match(/TOTAL=(\d+)/)?.[1],
        "the emulator ran other nodes than DuckDB",
      );

      // Every bronze, silver and gold relation equals DuckDB's.
      const relations = await withWarehouse(
        db,
        async (query) =>
          (await query(
            "select table_schema || '.' || table_name from information_schema.tables where table_schema in ('bronze', 'silver', 'gold') order by 1",
          )).map((row) => String(row[0])),
      );
      assert.ok(relations.length >= 8, `relations: ${relations}`);
      for (const relation of relations) {
        assert.match(
          output,
          new RegExp(`compare ${relation}: same \\d+ rows`),
          `${relation} differs on the emulator:\n${output}`,
        );
      }
      assert.match(
        output,
        /compare silver\.silver_quarantined_stock_quotes: same 7 rows/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
