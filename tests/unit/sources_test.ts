import assert from "node:assert/strict";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import type { Quote } from "../../lib/contract/quote.ts";
import type { QuoteSource, SourceReject } from "../../lib/produce/source.ts";
import { ReplaySource } from "../../lib/produce/sources/replay.ts";
import { SimulatedSource } from "../../lib/produce/sources/simulated.ts";

const START = Date.UTC(2026, 10, 20, 20, 59, 50);
const SYMBOLS = ["AAPL", "MSFT", "TSLA"];

async function collect(
  source: QuoteSource,
  onReject?: (r: SourceReject) => void,
): Promise<Quote[]> {
  const quotes: Quote[] = [];
  for await (
    const quote of source.quotes(new AbortController().signal, onReject)
  ) quotes.push(quote);
  return quotes;
}

function simulated(
  options: Partial<ConstructorParameters<typeof SimulatedSource>[0]> = {},
) {
  return new SimulatedSource({
    symbols: SYMBOLS,
    count: 30,
    start: START,
    paced: false,
    now: () => START + 60_000,
    ...options,
  });
}

Deno.test("SimulatedSource is deterministic for a seed and differs across seeds", async () => {
  const a = await collect(simulated({ seed: 1 }));
  const b = await collect(simulated({ seed: 1 }));
  const c = await collect(simulated({ seed: 2 }));
  assert.equal(a.length, 30);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((q) => q.c), c.map((q) => q.c));
});

Deno.test("SimulatedSource keeps a symbol's walk independent of the other symbols", async () => {
  const alone = await collect(simulated({ symbols: ["MSFT"], count: 10 }));
  const together = (await collect(simulated())).filter((q) =>
    q.symbol === "MSFT"
  );
  assert.deepEqual(together.map((q) => q.c), alone.map((q) => q.c));
});

Deno.test("SimulatedSource gives consistent fields: day open/high/low, d and dp from the previous close", async () => {
  // Start 20 seconds before midnight UTC, so the walk crosses into a new day.
  const start = Date.UTC(2026, 10, 20, 23, 59, 40);
  const quotes = await collect(
    simulated({ start, count: 3 * 40, now: () => start + 3_600_000 }),
  );
  for (const symbol of SYMBOLS) {
    const series = quotes.filter((q) => q.symbol === symbol);
    assert.deepEqual(
      series.map((q) => q.t),
      series.map((_, i) => start / 1000 + i),
      "one second per round",
    );
    let day = "";
    let high = 0, low = Infinity, open = 0, close = 0, prevClose = series[0].pc;
    for (const q of series) {
      const today = new Date(q.t * 1000).toISOString().slice(0, 10);
      if (today !== day) {
        if (day !== "") prevClose = close;
        day = today;
        open = high = low = q.c;
      }
      high = Math.max(high, q.c);
      low = Math.min(low, q.c);
      close = q.c;
      assert.equal(q.o, open);
      assert.equal(q.h, high);
      assert.equal(q.l, low);
      assert.equal(q.pc, prevClose);
      assert.equal(q.d, Math.round((q.c - q.pc) * 100) / 100);
      assert.ok(Math.abs(q.dp - (q.d / q.pc) * 100) < 1e-4);
      assert.ok(q.l <= q.c && q.c <= q.h);
      assert.equal(q.source, "simulated");
    }
    assert.notEqual(
      series[0].pc,
      series[series.length - 1].pc,
      "the new day's pc is the last close",
    );
  }
});

Deno.test("SimulatedSource starts a bounded fast run in the past so it ends now", async () => {
  const now = Date.UTC(2026, 10, 21, 12);
  const quotes = await collect(
    new SimulatedSource({
      symbols: SYMBOLS,
      count: 3_000,
      paced: false,
      now: () => now,
    }),
  );
  assert.equal(quotes.at(-1)!.t, now / 1000);
  assert.equal(quotes[0].t, now / 1000 - 999);
});

Deno.test("SimulatedSource gives integer times when a paced fast run starts in the past", async () => {
  const now = Date.UTC(2026, 10, 21, 12);
  const source = new SimulatedSource({
    symbols: SYMBOLS,
    count: 7,
    rate: 7_000,
    now: () => now,
  });
  const quotes = await collect(source);
  assert.equal(quotes.length, 7);
  for (const q of quotes) {
    assert.ok(Number.isSafeInteger(q.fetched_at), String(q.fetched_at));
  }
});

Deno.test("SimulatedSource paces events at the rate and stops when aborted", async () => {
  const source = new SimulatedSource({ symbols: SYMBOLS, rate: 100 });
  const controller = new AbortController();
  const started = performance.now();
  let n = 0;
  for await (const _ of source.quotes(controller.signal)) {
    if (++n === 20) controller.abort();
  }
  assert.equal(n, 20);
  assert.ok(
    performance.now() - started >= 150,
    "20 events at 100/s take about 190 ms",
  );
});

Deno.test("ReplaySource reads NDJSON, CSV and gzip in order, and dead-letters bad lines with their position", async () => {
  const dir = await Deno.makeTempDir();
  const quotes = await collect(simulated({ count: 6 }));
  await Deno.writeTextFile(
    `${dir}/a.ndjson`,
    [
      JSON.stringify(quotes[0]),
      "",
      "{oops",
      JSON.stringify({ ...quotes[1], c: -1 }),
      JSON.stringify(quotes[1]),
    ]
      .join("\n") + "\n",
  );
  const header = "symbol,c,d,dp,h,l,o,pc,t,fetched_at,source";
  const row = (q: Quote) =>
    [q.symbol, q.c, q.d, q.dp, q.h, q.l, q.o, q.pc, q.t, q.fetched_at, q.source]
      .join(",");
  await Deno.writeTextFile(
    `${dir}/b.csv`,
    [
      header,
      row(quotes[2]),
      row(quotes[3]),
      "AAPL,1,2",
      row({ ...quotes[3], c: "abc" as unknown as number }),
    ].join("\r\n"),
  );
  await Deno.writeFile(
    `${dir}/c.ndjson.gz`,
    await encodeLines(quotes.slice(4).map((q) => JSON.stringify(q))),
  );

  const rejects: SourceReject[] = [];
  const source = new ReplaySource({
    paths: [`${dir}/a.ndjson`, `${dir}/b.csv`, `${dir}/c.ndjson.gz`],
  });
  const replayed = await collect(source, (r) => rejects.push(r));
  assert.deepEqual(replayed, quotes);
  assert.deepEqual(
    rejects.map((r) => [r.position.replace(dir, ""), r.rejection.field]),
    [
      ["/a.ndjson:3", "event"],
      ["/a.ndjson:4", "c"],
      ["/b.csv:4", "event"],
      ["/b.csv:5", "c"],
    ],
  );
  // The value received, not what a failed conversion made of it.
  assert.equal(rejects[3].rejection.value, '"abc"');
  assert.match(
    rejects[2].rejection.rule,
    /^must be a well-formed CSV row \(expected 11 CSV cells, found 3\)$/,
  );
  assert.deepEqual(source.stats, { emitted: 6, skipped: { invalid: 4 } });

  // A directory replays its files in path order: the same events again.
  assert.deepEqual(
    await collect(new ReplaySource({ paths: [dir] }), () => {}),
    quotes,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ReplaySource says clearly when a path is missing or not a supported format", async () => {
  await assert.rejects(
    () => collect(new ReplaySource({ paths: ["/nonexistent/quotes.ndjson"] })),
    /Cannot replay "\/nonexistent\/quotes.ndjson" as it does not exist/,
  );
  const file = await Deno.makeTempFile({ suffix: ".parquet" });
  await assert.rejects(
    () => collect(new ReplaySource({ paths: [file] })),
    /as it must end in .ndjson, .jsonl, .json or .csv, optionally followed by .gz/,
  );
  await Deno.remove(file);
});

Deno.test("the sample files the README replays are valid and hold the same quotes", async () => {
  const examples = new URL("../../docs/examples/", import.meta.url).pathname;
  const rejects: SourceReject[] = [];
  const ndjson = await collect(
    new ReplaySource({ paths: [`${examples}quotes.ndjson`] }),
    (r) => rejects.push(r),
  );
  const csv = await collect(
    new ReplaySource({ paths: [`${examples}quotes.csv`] }),
    (r) => rejects.push(r),
  );
  assert.deepEqual(rejects, []);
  assert.equal(ndjson.length, 600);
  assert.deepEqual(csv, ndjson);
});
