/**
 * The dashboard's server and gold reader on a small gold copy written here
 * (the tables and columns the page reads, a few rows each): its routes, its
 * JSON, its event stream when a new copy is renamed over the old one, and
 * the empty warehouse. The page in a browser is tests/integration/dashboard_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { DuckDBGoldSource } from "../../lib/dashboard/duckdb_source.ts";
import {
  CANDLE_LIMIT,
  readCandles,
  readOverview,
} from "../../lib/dashboard/gold_queries.ts";
import {
  goldFreshnessP95,
  pipelinePanel,
  readPipelinePanel,
} from "../../lib/dashboard/pipeline.ts";
import type { PipelineStatus } from "../../lib/ops/status.ts";
import { NO_DATA, serveDashboard } from "../../lib/dashboard/server.ts";
import { SnowflakeGoldSource } from "../../lib/dashboard/snowflake_source.ts";
import { ChangeWatcher } from "../../lib/dashboard/watcher.ts";
import { loadConfig } from "../../lib/runtime/config.ts";
import type {
  SnowflakeSession,
  StatementResult,
} from "../../lib/warehouse/snowflake/session.ts";
import { until } from "../_wait.ts";

const PORT = 59121;

/**
 * Writes a gold copy at `path` as the pipeline does (a temporary file
 * renamed over the path): two symbols, AAPL with 400 five-minute trade
 * candles from 2026-12-01 09:00 UTC, BINANCE:BTCUSDT with hourly quote
 * candles and no trades; `price` is AAPL's last price.
 */
async function writeCopy(path: string, price = 190.5): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  const instance = await DuckDBInstance.create(temp);
  const connection = await instance.connect();
  try {
    await connection.run(`
create schema gold;
create table gold.gold_latest_kpi as
select * from (values
  ('AAPL', 'XNYS', 'America/New_York', ${price}, 188.0, ${price} - 188.0,
    100 * (${price} - 188.0) / 188.0, 189.0, ${price} - 189.0,
    100 * (${price} - 189.0) / 189.0, 191.0, 188.5,
    timestamp '2026-12-01 18:14:58', date '2026-12-01', 190.4,
    timestamp '2026-12-01 18:14:59', 12000::decimal(38, 8), 190.25,
    15000::decimal(38, 8), 190.2),
  ('BINANCE:BTCUSDT', 'BINANCE', 'UTC', 97000.5, 96000.0, 1000.5, 1.0422,
    96500.0, 500.5, 0.5187, 97100.0, 95900.0,
    timestamp '2026-12-01 18:00:00', date '2026-12-01', null, null, null,
    null, null, null)
) as k(symbol, exchange, time_zone, price, prev_close, change_abs,
  change_pct, day_open, change_since_open_abs, change_since_open_pct,
  day_high, day_low, quote_ts, trading_date, last_trade_price,
  last_trade_ts, day_volume, day_vwap, all_hours_volume, all_hours_vwap);
create table gold.gold_treechart as
select symbol, price, change_abs, change_pct,
  0.25 as volatility, trading_date as volatility_date, quote_ts
from gold.gold_latest_kpi;
create table gold.gold_volatility as
select * from (values
  ('AAPL', date '2026-11-30', 0.30, 0.30, 1, 77),
  ('AAPL', date '2026-12-01', 0.25, 0.275, 2, 40),
  ('BINANCE:BTCUSDT', date '2026-12-01', 0.25, null, 1, 200)
) as v(symbol, quote_date, annualized_volatility, rolling_avg_volatility,
  rolling_day_count, return_count);
create table gold.gold_market_candles as
select 'AAPL' as symbol, '5m' as timeframe,
  timestamp '2026-12-01 09:00:00' + to_minutes(5 * i) as bucket_start,
  date '2026-12-01' as trading_date,
  100.0 + i as open, 101.0 + i as high, 99.0 + i as low, 100.5 + i as close,
  (10 + i)::decimal(38, 8) as volume, 100.2 + i as vwap,
  3::bigint as trade_count, 0::bigint as quote_count, 'trades' as basis
from range(400) as r(i)
union all
select 'BINANCE:BTCUSDT', '1h', timestamp '2026-12-01 10:00:00' + to_hours(i),
  date '2026-12-01', 96000.0, 96100.0, 95900.0, 96050.0, null, null, null,
  12::bigint, 'quotes'
from range(5) as r(i);
create table main.published as
select timestamptz '2026-12-01 18:15:00+00' as published_at,
  'warehouse.duckdb' as warehouse,
  ['gold.gold_latest_kpi']::varchar[] as tables;
`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  await Deno.rename(temp, path);
}

/** Serves the dashboard on `path` for the body of a test, then stops it. */
async function withDashboard(
  path: string,
  body: (url: string) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const source = new DuckDBGoldSource(path, { pollMs: 20 });
  const server = await serveDashboard({
    source,
    pipeline: (gold) =>
      readPipelinePanel({
        status: () => Promise.reject(new Error("no status in this test")),
        gold,
      }),
    hostname: "127.0.0.1",
    port: PORT,
    signal: stop.signal,
  });
  try {
    await body(server.url);
  } finally {
    stop.abort();
    await server.finished;
  }
}

async function getJson(
  url: string,
): Promise<[number, Record<string, unknown>]> {
  const response = await fetch(url);
  assert.match(
    response.headers.get("content-type") ?? "",
    /^application\/json/,
  );
  return [response.status, await response.json()];
}

Deno.test("the gold reader reads one row per symbol, with its exchange's zone, and the last buckets of one chart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "gold_copy.duckdb");
    await writeCopy(path);
    const source = new DuckDBGoldSource(path);
    const overview = await readOverview(source);
    assert.ok(overview);
    assert.deepEqual(overview.symbols.map((s) => [s.symbol, s.timeZone]), [
      ["AAPL", "America/New_York"],
      ["BINANCE:BTCUSDT", "UTC"],
    ]);
    const [aapl, btc] = overview.symbols;
    assert.equal(aapl.quoteMs, Date.parse("2026-12-01T18:14:58Z"));
    assert.equal(aapl.dayVolume, 12000);
    assert.equal(btc.lastTradeMs, null);
    assert.equal(btc.dayVolume, null);
    assert.equal(overview.builtMs, Date.parse("2026-12-01T18:15:00Z"));
    // The volatility of the treemap feed's date, not the day before.
    assert.deepEqual(
      overview.volatility.map((v) => [v.symbol, v.date, v.annualized]),
      [["AAPL", "2026-12-01", 0.25], ["BINANCE:BTCUSDT", "2026-12-01", 0.25]],
    );

    const candles = await readCandles(source, "AAPL", "5m");
    assert.ok(candles);
    assert.equal(candles.candles.length, CANDLE_LIMIT);
    // The newest buckets, oldest first: bucket 399 last.
    assert.equal(candles.candles.at(-1)?.close, 100.5 + 399);
    assert.ok(candles.candles[0].timeMs < candles.candles[1].timeMs);
    const quotes = await readCandles(source, "BINANCE:BTCUSDT", "1h");
    assert.deepEqual(
      quotes?.candles.map((c) => [c.basis, c.volume]),
      Array(5).fill(["quotes", null]),
    );
    assert.equal(await readCandles(source, "NOPE", "5m"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the gold reader finds no gold where there is no copy, or a copy without symbols", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "gold_copy.duckdb");
    const source = new DuckDBGoldSource(path);
    assert.equal(await source.version(), undefined);
    assert.equal(await readOverview(source), undefined);
    await writeCopy(path);
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run("delete from gold.gold_latest_kpi");
    connection.closeSync();
    instance.closeSync();
    assert.equal(await readOverview(source), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the server answers the page, its files, the chart libraries and the API as JSON", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "gold_copy.duckdb");
    await writeCopy(path);
    await withDashboard(path, async (url) => {
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(
        page.headers.get("content-security-policy") ?? "",
        /script-src 'self' 'sha256-[A-Za-z0-9+/]+=*'/,
      );
      // The import map names each library's module, and each is served.
      const html = await page.text();
      const map = JSON.parse(
        /<script type="importmap">(.*?)<\/script>/.exec(html)?.[1] ?? "{}",
      );
      assert.deepEqual(Object.keys(map.imports).sort(), [
        "d3-hierarchy",
        "fancy-canvas",
        "lightweight-charts",
      ]);
      for (const path of Object.values(map.imports) as string[]) {
        const response = await fetch(new URL(path, url));
        assert.equal(response.status, 200, path);
        await response.body?.cancel();
      }
      for (
        const path of [
          "static/vendor/fancy-canvas/../x.mjs",
          "static/vendor/left-pad/index.mjs",
          "static/vendor/d3-hierarchy/package.json",
        ]
      ) {
        const response = await fetch(`${url}${path}`);
        assert.equal(response.status, 404, path);
        await response.body?.cancel();
      }
      for (
        const [file, text] of [
          ["static/dashboard.js", "EventSource"],
          ["static/dashboard.css", "@media"],
          [
            "static/vendor/lightweight-charts/lightweight-charts.production.mjs",
            "TradingView Lightweight Charts",
          ],
          ["static/vendor/fancy-canvas/index.mjs", "./size.mjs"],
          ["static/vendor/fancy-canvas/size.mjs", "equalSizes"],
          ["static/vendor/d3-hierarchy/d3-hierarchy.mjs", "treemapSquarify"],
        ]
      ) {
        const response = await fetch(`${url}${file}`);
        assert.equal(response.status, 200, file);
        assert.ok((await response.text()).includes(text), `${file}: ${text}`);
      }

      const [status, overview] = await getJson(`${url}api/overview`);
      assert.equal(status, 200);
      assert.equal(overview.state, "ready");
      assert.equal((overview.symbols as unknown[]).length, 2);
      assert.equal(typeof overview.nowMs, "number");

      const [, candles] = await getJson(
        `${url}api/candles?symbol=AAPL&timeframe=5m`,
      );
      assert.equal((candles.candles as unknown[]).length, CANDLE_LIMIT);
      assert.equal(candles.timeZone, "America/New_York");

      assert.deepEqual(
        await getJson(`${url}api/candles?symbol=AAPL&timeframe=2m`),
        [400, {
          error:
            "Cannot show candles as 'timeframe' must be one of 1m, 5m, 1h, 1d: current value is \"2m\"",
        }],
      );
      assert.deepEqual(
        await getJson(`${url}api/candles?symbol=NOPE&timeframe=1m`),
        [404, {
          error:
            "Cannot show candles as 'symbol' must be a symbol of gold_latest_kpi: current value is \"NOPE\"",
        }],
      );
      const [missing, body] = await getJson(`${url}nowhere`);
      assert.equal(missing, 404);
      assert.match(String(body.error), /^Cannot find \/nowhere: /);
      const post = await fetch(`${url}api/overview`, { method: "POST" });
      assert.equal(post.status, 405);
      assert.match((await post.json()).error, /answers GET only/);

      const [, pipeline] = await getJson(`${url}api/pipeline`);
      assert.ok(
        (pipeline.facts as { label: string }[]).some((f) =>
          f.label === "Gold built"
        ),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an empty warehouse answers 200 with 'No data yet', never an error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withDashboard(join(dir, "gold_copy.duckdb"), async (url) => {
      const page = await fetch(url);
      assert.equal(page.status, 200);
      await page.body?.cancel();
      const [status, { nowMs, ...overview }] = await getJson(
        `${url}api/overview`,
      );
      assert.equal(status, 200);
      assert.equal(typeof nowMs, "number");
      assert.deepEqual(overview, { state: "empty", message: NO_DATA });
      const [healthStatus, health] = await getJson(`${url}api/health`);
      assert.equal(healthStatus, 200);
      assert.equal(health.gold, "empty");
      const [, pipeline] = await getJson(`${url}api/pipeline`);
      assert.deepEqual(pipeline.facts, [{
        label: "Pipeline status",
        text: "cannot be gathered: no status in this test",
      }]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the event stream tells the page when a new gold copy is renamed over the old one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "gold_copy.duckdb");
    await writeCopy(path);
    await withDashboard(path, async (url) => {
      const response = await fetch(`${url}events`);
      assert.equal(
        response.headers.get("content-type"),
        "text/event-stream; charset=utf-8",
      );
      const reader = response.body!.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      const goldEvents = () =>
        [...text.matchAll(/event: gold\ndata: (.*)\n\n/g)].map((m) => m[1]);
      try {
        // Each read has its deadline too: a stream that stays silent fails.
        const read = async () => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const silence = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error("no event within 10 s")),
              10_000,
            );
          });
          try {
            const { value } = await Promise.race([reader.read(), silence]);
            text += value ?? "";
          } finally {
            clearTimeout(timer);
          }
          return goldEvents();
        };
        await until(async () => (await read()).length >= 1, {
          what: "the first gold event",
        });
        await writeCopy(path, 191.25);
        await until(async () => new Set(await read()).size >= 2, {
          what: "a gold event for the new copy",
        });
        const [, overview] = await getJson(`${url}api/overview`);
        assert.equal(
          (overview.symbols as { price: number }[])[0].price,
          191.25,
        );
      } finally {
        await reader.cancel();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the change watcher polls only while it has a listener and reports each change once", async () => {
  let answer: string | undefined = "a";
  let probes = 0;
  const watcher = new ChangeWatcher(() => {
    probes++;
    return Promise.resolve(answer);
  }, { name: "test", everyMs: 5 });
  assert.equal(probes, 0);
  const seen: (string | undefined)[] = [];
  const unsubscribe = watcher.subscribe((version) => seen.push(version));
  await until(() => seen.length === 1, { what: "the first answer" });
  await until(() => probes >= 3, { what: "more probes" });
  assert.deepEqual(seen, ["a"]);
  answer = undefined;
  await until(() => seen.length === 2, { what: "the change" });
  assert.deepEqual(seen, ["a", undefined]);
  unsubscribe();
  const stopped = probes;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.ok(probes <= stopped + 1, `${probes} probes after ${stopped}`);
  assert.throws(
    () =>
      new ChangeWatcher(() => Promise.resolve("x"), { name: "x", everyMs: 0 }),
    /Cannot watch x as 'everyMs' must be a positive number: current value is 0/,
  );
});

/** A status as `deno task status` gathers it: quotes 30 behind on partition 0, one loader refusal. */
function status(): PipelineStatus {
  const fresh = (at: string | null) => ({ at, ageSeconds: 1, measure: "x" });
  return {
    at: "2026-12-01T18:15:02.000Z",
    stream: "embedded:///data/stream/stock-quotes",
    lake: "file:///data/lake",
    warehouse: {
      location: "/data/warehouse.duckdb",
      unavailable: null,
      heldBy: null,
      goldSource: "/data/gold_copy.duckdb",
      goldPublishedAt: "2026-12-01T18:15:00.000Z",
    },
    kinds: [{
      kind: "quotes",
      topic: "stock-quotes",
      groupId: "stock-quotes-lake",
      streamId: "embedded:x",
      partitions: [
        {
          partition: 0,
          end: 230,
          committed: 200,
          landed: 200,
          loaded: 200,
          streamLag: 30,
          loadLag: 0,
        },
        {
          partition: 1,
          end: 110,
          committed: 110,
          landed: 110,
          loaded: null,
          streamLag: 0,
          loadLag: null,
        },
      ],
      lag: 30,
      freshness: {
        raw: fresh("2026-12-01T18:15:01.000Z"),
        silver: fresh("2026-12-01T18:15:00.000Z"),
        gold: fresh(null),
      },
      newestEventAt: null,
      deadLetters: {
        lake: { day: null, objects: 0, lines: 0, byRule: [], truncated: false },
        loader: [{ field: "c", rule: "must be > 0", count: 3 }],
      },
    }],
    dbt: {
      command: "build",
      startedAt: null,
      finishedAt: "2026-12-01T18:14:59.000Z",
      elapsedSeconds: 2.1,
      success: true,
      counts: {},
      source: "run_results.json",
    },
    follow: null,
  };
}

Deno.test("the pipeline panel shows the status's lag per partition, last load and dbt run, freshness and dead letters by rule", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "gold_copy.duckdb");
    await writeCopy(path);
    const overview = await readOverview(new DuckDBGoldSource(path));
    assert.ok(overview);
    // AAPL's newest event is 1 s old at the build, BTC's 900 s.
    assert.equal(goldFreshnessP95(overview), 900_000);
    const panel = pipelinePanel(status(), overview);
    assert.deepEqual(panel.facts.map((f) => f.label), [
      "Real-time service",
      "Last load, quotes",
      "Last dbt run",
      "Gold built",
      "Gold freshness p95",
    ]);
    assert.equal(panel.facts[1].atMs, Date.parse("2026-12-01T18:15:01Z"));
    assert.deepEqual(panel.facts[2], {
      label: "Last dbt run",
      text: "build succeeded",
      ms: 2100,
      atMs: Date.parse("2026-12-01T18:14:59Z"),
    });
    const [lag, freshness, deadLetters] = panel.tables;
    assert.deepEqual(lag.rows, [
      ["quotes 0", 230, 200, 200, 200, 30, 0],
      ["quotes 1", 110, 110, 110, null, 0, null],
    ]);
    assert.deepEqual(freshness.rows, [[
      "quotes",
      { atMs: Date.parse("2026-12-01T18:15:01Z") },
      { atMs: Date.parse("2026-12-01T18:15:00Z") },
      null,
    ]]);
    assert.deepEqual(deadLetters.rows, [[
      "quotes",
      "loader",
      "c: must be > 0",
      3,
    ]]);

    // A status that cannot be gathered says why; gold's facts stay.
    const failed = await readPipelinePanel({
      status: () => Promise.reject(new Error("Kafka is unreachable")),
      gold: () => Promise.resolve(overview),
    });
    assert.deepEqual(failed.facts[0], {
      label: "Pipeline status",
      text: "cannot be gathered: Kafka is unreachable",
    });
    assert.equal(failed.facts[1].label, "Gold built");
    assert.deepEqual(failed.tables[0].rows, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A Snowflake session answering the source's statements from `rows`. */
class AnsweringSession implements SnowflakeSession {
  readonly location = "snowflake://test/STOCKS";
  readonly statements: string[] = [];
  closed = false;
  constructor(readonly answer: (sql: string) => Record<string, unknown>[]) {}
  execute(sql: string): Promise<StatementResult> {
    this.statements.push(sql);
    return Promise.resolve({ rows: this.answer(sql), queryId: "q" });
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

Deno.test("the Snowflake source has no gold until GOLD_LATEST_KPI is built, then versions it by the newest candle write", async () => {
  let built = 0;
  const session = new AnsweringSession((sql) =>
    sql.includes("information_schema.tables")
      ? [{ N: built }]
      : sql.includes("greatest(")
      ? [{ NEWEST: "2026-12-01 18:15:00.000" }]
      : [{ SYMBOL: "AAPL" }]
  );
  let connects = 0;
  const source = new SnowflakeGoldSource(
    loadConfig({ WAREHOUSE: "snowflake", SNOWFLAKE_ACCOUNT: "acct" }),
    {
      connect: () => {
        connects++;
        return Promise.resolve(session);
      },
    },
  );
  assert.equal(source.location, "snowflake://acct/STOCKS");
  assert.equal(await source.version(), undefined);
  assert.equal(await source.read(() => Promise.resolve("read")), undefined);
  built = 1;
  assert.equal(await source.version(), "2026-12-01 18:15:00.000");
  // Columns come back in lower case, as the queries name them.
  assert.deepEqual(
    await source.read((query) => query("select symbol from gold.x")),
    [{ symbol: "AAPL" }],
  );
  assert.equal(connects, 1);
  await source.close();
  assert.equal(session.closed, true);
});
