/**
 * The pipeline end to end through its entry points, as a user runs them:
 * `demo.ts`, `producer.ts`, `consumer.ts` and `loader.ts` as subprocesses on
 * the embedded defaults, with real DuckDB and real dbt.
 */
import assert from "node:assert/strict";
import type { Quote } from "../../lib/contract/quote.ts";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";
import { finnhubQuote, startFakeFinnhub } from "../fake_finnhub.ts";
import {
  assertSuccess,
  count,
  type Run,
  run as runScript,
  snapshot,
  stateIn,
  SYMBOLS,
  withWarehouse,
} from "../_helpers.ts";

/** Runs an entry point with the pipeline's state under `dir`. */
function run(
  script: string,
  args: string[],
  dir: string,
  env: Record<string, string> = {},
): Promise<Run> {
  return runScript(script, args, { ...stateIn(dir), ...env });
}

const MODELS = [
  "silver.silver_clean_stock_quotes",
  "gold.gold_latest_kpi",
  "gold.gold_candles",
  "gold.gold_volatility",
  "gold.gold_treechart",
];

Deno.test({
  name:
    "demo runs source to gold and prints every symbol; replaying the lake twice changes no silver or gold row",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;

    const demo = await run(
      "demo.ts",
      ["--duration", "5s", "--rate", "10"],
      dir,
    );
    assertSuccess(demo, "demo");
    for (const symbol of SYMBOLS) {
      assert.match(
        demo.stdout,
        new RegExp(`^${symbol}\\s+\\d+\\.\\d{2}\\s`, "m"),
      );
    }
    assert.match(demo.stderr, /msg="dbt build passed"/);
    const raw = await count(db, "select count(*) from raw.source_stock_quotes");
    assert.equal(raw, 50, "5 s at 10 events/s");
    assert.equal(
      await count(db, "select count(*) from silver.silver_clean_stock_quotes"),
      50,
    );
    const before = await snapshot(db, MODELS);

    // Backfill the same files twice (a copy of the lake's objects): new stream coordinates, the same quotes.
    await new Deno.Command("cp", {
      args: ["-r", `${dir}/lake/stock-quotes`, `${dir}/backfill`],
    }).output();
    for (let replay = 1; replay <= 2; replay++) {
      const again = await run("demo.ts", [
        "--source",
        "replay",
        "--file",
        `${dir}/backfill`,
      ], dir);
      assertSuccess(again, `replay ${replay}`);
      assert.equal(
        await count(db, "select count(*) from raw.source_stock_quotes"),
        raw * (replay + 1),
      );
      assert.deepEqual(
        await snapshot(db, MODELS),
        before,
        `replay ${replay} changed silver or gold`,
      );
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "produce, consume and load run as separate one-shot jobs and count every event once",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    assertSuccess(
      await run("producer.ts", ["--count", "40", "--rate", "1000"], dir),
      "produce",
    );
    assertSuccess(
      await run("producer.ts", [
        "--count",
        "35",
        "--rate",
        "1000",
        "--seed",
        "7",
      ], dir),
      "produce",
    );
    const consume = await run("consumer.ts", ["--drain"], dir, {
      FLUSH_MAX_EVENTS: "10",
    });
    assertSuccess(consume, "consume");
    assert.match(
      consume.stderr,
      /msg="consumer finished" consumed=75 events=75 deadLetters=0/,
    );
    assertSuccess(await run("consumer.ts", ["--drain"], dir), "consume again");
    const load = await run("loader.ts", [], dir);
    assertSuccess(load, "load");
    assert.match(
      load.stderr,
      /msg="load finished" listed=\d+ files=\d+ rows=75 inserted=75 duplicates=0 rejected=0/,
    );
    const reload = await run("loader.ts", [], dir);
    assert.match(reload.stderr, /files=0 rows=0 inserted=0/);
    assert.equal(
      await count(
        `${dir}/warehouse.duckdb`,
        "select count(distinct (stream_partition, stream_offset)) from raw.source_stock_quotes",
      ),
      75,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "a second simulated run continues each symbol's walk from the first run's last quote, later in time",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    // 400 rounds first: a seeded restart would be off by the walk's drift.
    const first = await run(
      "producer.ts",
      ["--count", "2000", "--rate", "100000"],
      dir,
    );
    assertSuccess(first, "first run");
    assert.match(
      first.stderr,
      /msg="resumed the simulated walk" from_stream=0 from_warehouse=0 from_seed=5\n/,
    );
    // 5 rounds as fast as they go: they would start 4 s in the past.
    const second = await run(
      "producer.ts",
      ["--count", "25", "--rate", "100000"],
      dir,
    );
    assertSuccess(second, "second run");
    assert.match(
      second.stderr,
      /msg="resumed the simulated walk" from_stream=5 from_warehouse=0 from_seed=0 last_quote_at=/,
    );

    const stream = new EmbeddedStream({
      dir: `${dir}/stream`,
      topic: "stock-quotes",
    });
    const quotes = (await stream.lastMessages(10_000))
      .flatMap((batch) => batch.messages)
      .map((message) => JSON.parse(message.value) as Quote);
    const runs = SYMBOLS.map((symbol) => {
      const series = quotes.filter((q) => q.symbol === symbol);
      assert.equal(series.length, 405);
      return { symbol, series, last: series[399], next: series[400] };
    });
    // One simulated second moves a price by 0.01 % (one standard deviation):
    // no symbol may move more than five of them, and a cent, between runs.
    assert.deepEqual(
      runs
        .filter(({ last, next }) =>
          Math.abs(Math.log(next.c / last.c)) > 5 * 0.0001 + 0.01 / last.c
        )
        .map(({ symbol, last, next }) => `${symbol} ${last.c} -> ${next.c}`),
      [],
      "prices jump between the runs",
    );
    for (const { symbol, series, last, next } of runs) {
      assert.ok(
        next.t > last.t,
        `${symbol}'s second run starts at t=${next.t}, not after t=${last.t}`,
      );
      for (let i = 1; i < series.length; i++) {
        assert.ok(series[i].t > series[i - 1].t, `${symbol} goes back in time`);
      }
      // Same UTC day: the second run keeps the day's open and previous close.
      if (
        new Date(last.t * 1000).toISOString().slice(0, 10) ===
          new Date(next.t * 1000).toISOString().slice(0, 10)
      ) {
        assert.deepEqual([next.o, next.pc], [last.o, last.pc], symbol);
        assert.equal(next.h, Math.max(last.h, next.c));
        assert.equal(next.l, Math.min(last.l, next.c));
      }
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "producer --source finnhub publishes new quotes from the fake Finnhub, and stops clearly on a bad key",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const t = Math.floor(Date.now() / 1000) - 60;
    await using fake = await startFakeFinnhub({
      apiKey: "sentinel-key-7c1d",
      scripts: Object.fromEntries(
        SYMBOLS.map((s, i) => [s, [
          { body: finnhubQuote({ c: 100 + i, t }) },
          { body: finnhubQuote({ c: 101 + i, t }) }, // unchanged t: not re-published
          { body: finnhubQuote({ c: 102 + i, t: t + 5 }) },
        ]]),
      ),
    });
    const env = {
      FINNHUB_BASE_URL: fake.baseUrl,
      FINNHUB_API_KEY: "sentinel-key-7c1d",
      LOG_LEVEL: "debug",
    };
    const produce = await run(
      "producer.ts",
      ["--source", "finnhub", "--count", "10"],
      dir,
      env,
    );
    assertSuccess(produce, "produce");
    assert.match(
      produce.stderr,
      /msg="producer finished" published=10 rejected=0 skipped_unchanged_t=5/,
    );
    assert.ok(
      !produce.stderr.includes("sentinel-key-7c1d"),
      "the key reached a log line",
    );
    assertSuccess(await run("consumer.ts", ["--drain"], dir), "consume");
    assertSuccess(await run("loader.ts", [], dir), "load");
    assert.equal(
      await count(
        `${dir}/warehouse.duckdb`,
        "select count(*) from raw.source_stock_quotes where v->>'source' = 'finnhub'",
      ),
      10,
    );

    const denied = await run("producer.ts", ["--source", "finnhub"], dir, {
      ...env,
      FINNHUB_API_KEY: "wrong-key-123",
      LOG_LEVEL: "info",
    });
    assert.equal(denied.code, 1);
    const lines = denied.stderr.trim().split("\n").filter((l) =>
      l.includes("level=error")
    );
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      /Finnhub rejected the API key \(HTTP 401.*check FINNHUB_API_KEY/,
    );
    assert.ok(!denied.stderr.includes("wrong-key-123"));
    assert.ok(!/\n\s+at /.test(denied.stderr), "no stack dump");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "the entry points refuse bad options with one clear line and exit 1",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    for (
      const [args, message] of [
        [
          ["--source", "bloomberg"],
          /'--source' must be one of simulated, finnhub, replay/,
        ],
        [["--source", "replay"], /'--file' must name a file or directory/],
        [
          ["--duration", "soon"],
          /'--duration' must be a positive number followed by ms, s, m or h/,
        ],
        [["--source", "finnhub"], /FINNHUB_API_KEY/],
      ] as const
    ) {
      const result = await run("producer.ts", [...args], dir, {
        FINNHUB_API_KEY: "",
      });
      assert.equal(result.code, 1, args.join(" "));
      assert.match(result.stderr, message);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "a day replayed from known ticks gives exactly the hand-computed candles and KPIs",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const db = `${dir}/warehouse.duckdb`;
    // tests/fixtures/known_ticks.ndjson: AAPL on 2026-03-02 (UTC) at
    //   14:30:05 100.00 · 14:30:40 101.50 · 14:31:10 99.80, re-fetched later as 99.90 (newest fetch wins)
    //   14:32:00 -1 (invalid: dead-lettered) · 14:34:59 100.20 · 14:35:00 102.00
    //   15:10:00 103.10 · 15:59:59 98.70 · 16:00:00 100.00
    const replay = await run("demo.ts", [
      "--source",
      "replay",
      "--file",
      "tests/fixtures/known_ticks.ndjson",
    ], dir);
    assertSuccess(replay, "replay");
    assert.match(replay.stderr, /msg=landed published=9 source_rejects=1/);

    const candles = await withWarehouse(db, (query) =>
      query(`
        select timeframe, strftime(bucket_start, '%H:%M'), open, high, low, close, quote_count::integer
        from gold.gold_candles where symbol = 'AAPL'
        order by case timeframe when '1m' then 1 when '5m' then 2 when '1h' then 3 else 4 end, bucket_start`));
    assert.deepEqual(candles, [
      ["1m", "14:30", 100, 101.5, 100, 101.5, 2],
      ["1m", "14:31", 99.9, 99.9, 99.9, 99.9, 1],
      ["1m", "14:34", 100.2, 100.2, 100.2, 100.2, 1],
      ["1m", "14:35", 102, 102, 102, 102, 1],
      ["1m", "15:10", 103.1, 103.1, 103.1, 103.1, 1],
      ["1m", "15:59", 98.7, 98.7, 98.7, 98.7, 1],
      ["1m", "16:00", 100, 100, 100, 100, 1],
      ["5m", "14:30", 100, 101.5, 99.9, 100.2, 4],
      ["5m", "14:35", 102, 102, 102, 102, 1],
      ["5m", "15:10", 103.1, 103.1, 103.1, 103.1, 1],
      ["5m", "15:55", 98.7, 98.7, 98.7, 98.7, 1],
      ["5m", "16:00", 100, 100, 100, 100, 1],
      ["1h", "14:00", 100, 102, 99.9, 102, 5],
      ["1h", "15:00", 103.1, 103.1, 98.7, 98.7, 2],
      ["1h", "16:00", 100, 100, 100, 100, 1],
      ["1d", "00:00", 100, 103.1, 98.7, 100, 8],
    ]);
    const kpi = await withWarehouse(db, (query) =>
      query(`
        select price, strftime(quote_ts, '%Y-%m-%dT%H:%M:%S'), day_open,
               change_since_open_abs, day_high, day_low, day_quote_count::integer,
               prev_close, change_abs
        from gold.gold_latest_kpi where symbol = 'AAPL'`));
    // The day's figures are its 1d candle's, not what the quotes report
    // (o 100, h 105, l 95); with no earlier day, the previous close is the
    // quote's own (pc 99).
    assert.deepEqual(kpi, [[
      100,
      "2026-03-02T16:00:00",
      100,
      0,
      103.1,
      98.7,
      8,
      99,
      1,
    ]]);
    await Deno.remove(dir, { recursive: true });
  },
});
