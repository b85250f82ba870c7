/**
 * Where a simulated run continues from (lib/app/resume.ts): each symbol's
 * last quote in the stream's tail, else its latest quote in the warehouse's
 * gold_latest_kpi, else its typical price; and the rate a simulated run
 * takes when none is given. On a real embedded stream and a real DuckDB file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { Quote } from "../../lib/contract/quote.ts";
import { simulatedRate } from "../../lib/app/cli.ts";
import { findResumePoints } from "../../lib/app/resume.ts";
import { lastQuotesInStream } from "../../lib/produce/resume.ts";
import { SimulatedSource } from "../../lib/produce/sources/simulated.ts";
import { loadConfig } from "../../lib/runtime/config.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";

const NOW_S = Math.floor(Date.now() / 1000);

function quote(symbol: string, c: number, t: number): Quote {
  return {
    symbol,
    c,
    d: 1,
    dp: 1,
    h: c + 1,
    l: c - 1,
    o: c,
    pc: c - 1,
    t,
    fetched_at: t * 1000 + 200,
    source: "simulated",
  };
}

/** An embedded stream under `dir` holding `values` keyed as given. */
async function streamWith(
  dir: string,
  messages: { key: string; value: string }[],
): Promise<EmbeddedStream> {
  const stream = new EmbeddedStream({ dir, topic: "stock-quotes" });
  const producer = await stream.producer();
  await producer.send(messages);
  await producer.close();
  return stream;
}

const message = (q: Quote) => ({ key: q.symbol, value: JSON.stringify(q) });

/** A DuckDB file whose gold.gold_latest_kpi holds `rows`, as dbt builds it. */
async function warehouseWith(path: string, rows: string[]): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    await connection.run(`
      create schema gold;
      create table gold.gold_latest_kpi (
        symbol varchar, quote_ts timestamp, price double, prev_close double,
        day_open double, day_high double, day_low double
      );
      ${
      rows.map((row) => `insert into gold.gold_latest_kpi values ${row};`).join(
        "\n",
      )
    }`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Runs `work` with the log lines it writes collected. */
async function logged<T>(work: () => Promise<T>): Promise<[T, string[]]> {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    return [await work(), lines];
  } finally {
    restore();
  }
}

Deno.test("lastQuotesInStream() takes each symbol's latest quote time from the tail, passing over what is not a quote", async () => {
  const dir = await Deno.makeTempDir();
  const stream = await streamWith(dir, [
    message(quote("AAPL", 100, NOW_S - 3)),
    message(quote("AAPL", 101, NOW_S - 1)),
    // a backfill of an older quote, published later
    message(quote("AAPL", 90, NOW_S - 3600)),
    message(quote("MSFT", 400, NOW_S - 2)),
    { key: "MSFT", value: "not json" },
    { key: "MSFT", value: JSON.stringify(quote("TSLA", 250, NOW_S)) },
    message(quote("NVDA", 900, NOW_S)),
  ]);
  const found = await lastQuotesInStream(stream, ["AAPL", "MSFT", "TSLA"]);
  assert.deepEqual([...found.keys()].sort(), ["AAPL", "MSFT"]);
  assert.equal(found.get("AAPL")!.c, 101);
  assert.equal(found.get("MSFT")!.c, 400);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("findResumePoints() resumes from the stream, then the warehouse, then the seed, and says so in one line", async () => {
  const dir = await Deno.makeTempDir();
  const stream = await streamWith(dir, [
    message(quote("AAPL", 191.5, NOW_S - 10)),
    message(quote("MSFT", 421.25, NOW_S - 10)),
  ]);
  const duckdb = join(dir, "warehouse.duckdb");
  await warehouseWith(duckdb, [
    // MSFT's older row must not win over the stream
    "('MSFT', '2026-01-02 15:00:00', 300, 299, 298, 302, 297)",
    "('TSLA', '2026-01-02 15:00:07', 251.4, 249, 250, 252.5, 248.75)",
  ]);
  const config = loadConfig({
    SYMBOLS: "AAPL,MSFT,TSLA,GOOGL",
    DUCKDB_PATH: duckdb,
  });
  const [{ points, origins }, lines] = await logged(() =>
    findResumePoints(config, stream)
  );
  assert.deepEqual(origins, { stream: 2, warehouse: 1, seed: 1 });
  assert.equal(points.get("AAPL")!.c, 191.5);
  assert.equal(points.get("MSFT")!.c, 421.25);
  assert.deepEqual(points.get("TSLA"), {
    symbol: "TSLA",
    c: 251.4,
    o: 250,
    h: 252.5,
    l: 248.75,
    pc: 249,
    t: Date.UTC(2026, 0, 2, 15, 0, 7) / 1000,
  });
  assert.ok(!points.has("GOOGL"));
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    new RegExp(
      `level=info component=simulated msg="resumed the simulated walk" from_stream=2 from_warehouse=1 from_seed=1 last_quote_at=${
        new Date((NOW_S - 10) * 1000).toISOString()
      }`,
    ),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("findResumePoints() starts from the seed when there is neither a stream nor a warehouse", async () => {
  const dir = await Deno.makeTempDir();
  const stream = new EmbeddedStream({ dir, topic: "stock-quotes" });
  const config = loadConfig({ DUCKDB_PATH: join(dir, "none.duckdb") });
  const [{ points, origins }, lines] = await logged(() =>
    findResumePoints(config, stream)
  );
  assert.equal(points.size, 0);
  assert.deepEqual(origins, { stream: 0, warehouse: 0, seed: 5 });
  assert.match(lines[0], /from_stream=0 from_warehouse=0 from_seed=5$/);
  await assert.rejects(
    Deno.stat(join(dir, "none.duckdb")),
    Deno.errors.NotFound,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("findResumePoints() warns and starts from the seed when the warehouse cannot be read", async () => {
  const dir = await Deno.makeTempDir();
  const stream = new EmbeddedStream({ dir, topic: "stock-quotes" });
  const duckdb = join(dir, "warehouse.duckdb");
  await Deno.writeTextFile(duckdb, "not a DuckDB file\n".repeat(1000));
  const config = loadConfig({ SYMBOLS: "AAPL", DUCKDB_PATH: duckdb });
  const [{ origins }, lines] = await logged(() =>
    findResumePoints(config, stream)
  );
  assert.deepEqual(origins, { stream: 0, warehouse: 0, seed: 1 });
  assert.match(
    lines[0],
    /level=warn component=simulated msg="could not read the warehouse's latest quotes: symbols missing from the stream start at their typical price" symbols=1 error=/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("simulatedRate() is one quote per symbol per second unless SIM_RATE or --rate says otherwise", () => {
  const symbols = "A,B,C,D,E,F,G,H,I,J";
  assert.equal(simulatedRate({}, loadConfig({ SYMBOLS: symbols })), 10);
  assert.equal(
    simulatedRate({}, loadConfig({ SYMBOLS: symbols, SIM_RATE: "3" })),
    3,
  );
  assert.equal(
    simulatedRate({ rate: 7 }, loadConfig({ SYMBOLS: symbols, SIM_RATE: "3" })),
    7,
  );
  assert.equal(simulatedRate({}, loadConfig({})), 5);
});

Deno.test("at the default rate, 10 symbols' quote times stay within a second of the clock", async () => {
  const symbols = "A,B,C,D,E,F,G,H,I,J";
  const rate = simulatedRate({}, loadConfig({ SYMBOLS: symbols }));
  const began = Date.UTC(2026, 10, 21, 12);
  // The market times of a 20 s run; the wall clock of each quote is where
  // pacing at `rate` puts it.
  const source = new SimulatedSource({
    symbols: symbols.split(","),
    rate,
    count: Infinity,
    start: began,
    paced: false,
    now: () => began,
  });
  const controller = new AbortController();
  let emitted = 0;
  let worst = 0;
  for await (const q of source.events(controller.signal)) {
    const clock = began + (emitted * 1000) / rate;
    worst = Math.max(worst, Math.abs(clock - q.t * 1000));
    if (++emitted === 20 * rate) controller.abort();
  }
  assert.ok(worst < 1000, `quote times ${worst} ms behind the clock`);
});
