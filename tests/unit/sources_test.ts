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
  // Bounded, so its rounds start in the past and the rate sets the pace.
  const source = new SimulatedSource({
    symbols: SYMBOLS,
    rate: 100,
    count: 300,
  });
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

/** The largest price move of one simulated second: 5 standard deviations, plus a cent of rounding. */
function oneStep(price: number): number {
  return price * 5 * 0.0001 + 0.01;
}

Deno.test("SimulatedSource continues a resumed symbol from its last quote of the same UTC day", async () => {
  const last = { c: 201.37, o: 199.5, h: 203.1, l: 198.2, pc: 197.8 };
  const t = START / 1000 - 5;
  const quotes = await collect(
    simulated({ resume: new Map([["AAPL", { ...last, t }]]) }),
  );
  const aapl = quotes.filter((q) => q.symbol === "AAPL");
  assert.ok(aapl[0].t > t);
  assert.ok(
    Math.abs(aapl[0].c - last.c) <= oneStep(last.c),
    `first price ${aapl[0].c} after ${last.c}`,
  );
  let high = last.h, low = last.l;
  for (const q of aapl) {
    high = Math.max(high, q.c);
    low = Math.min(low, q.c);
    assert.deepEqual([q.o, q.h, q.l, q.pc], [last.o, high, low, last.pc]);
    assert.equal(q.d, Math.round((q.c - last.pc) * 100) / 100);
  }
  // A symbol not resumed starts at its typical price.
  const tsla = quotes.find((q) => q.symbol === "TSLA")!;
  assert.ok(Math.abs(tsla.c - 250) <= oneStep(250), String(tsla.c));
});

Deno.test("SimulatedSource resumed on a new UTC day takes the last quote's price as the previous close", async () => {
  const last = {
    c: 88.12,
    o: 90,
    h: 91,
    l: 87.5,
    pc: 89,
    t: START / 1000 - 86_400,
  };
  const quotes = (await collect(
    simulated({ resume: new Map([["MSFT", last]]) }),
  )).filter((q) => q.symbol === "MSFT");
  assert.equal(quotes[0].pc, last.c);
  assert.equal(quotes[0].o, quotes[0].c);
  assert.ok(Math.abs(quotes[0].c - last.c) <= oneStep(last.c));
  for (const q of quotes) {
    assert.equal(q.o, quotes[0].c);
    assert.equal(
      q.h,
      Math.max(...quotes.filter((p) => p.t <= q.t).map((p) => p.c)),
    );
    assert.equal(
      q.l,
      Math.min(...quotes.filter((p) => p.t <= q.t).map((p) => p.c)),
    );
  }
});

Deno.test("SimulatedSource starts just after the latest resumed quote when a fast run would start before it", async () => {
  const now = Date.UTC(2026, 10, 21, 12);
  const last = { c: 100, o: 100, h: 100, l: 100, pc: 100, t: now / 1000 };
  const quotes = await collect(
    new SimulatedSource({
      symbols: SYMBOLS,
      count: 3_000,
      paced: false,
      now: () => now,
      resume: new Map([["TSLA", last], ["AAPL", { ...last, t: last.t - 50 }]]),
    }),
  );
  assert.equal(quotes[0].t, last.t + 1, "not 999 s in the past");
  assert.deepEqual(
    quotes.filter((q) => q.symbol === "AAPL").slice(0, 3).map((q) => q.t),
    [last.t + 1, last.t + 2, last.t + 3],
  );
});

Deno.test("SimulatedSource resumed from its own last quotes continues without repeating the seeded path", async () => {
  const first = await collect(simulated({ seed: 42 }));
  const lastOf = (symbol: string) =>
    first.findLast((q) => q.symbol === symbol)!;
  const resume = new Map(SYMBOLS.map((s) => [s, lastOf(s)]));
  const second = await collect(
    simulated({ seed: 42, start: START + 60_000, resume }),
  );
  assert.deepEqual(
    await collect(simulated({ seed: 42, start: START + 60_000, resume })),
    second,
    "the same seed and last quotes give the same prices",
  );
  for (const symbol of SYMBOLS) {
    const a = first.filter((q) => q.symbol === symbol).map((q) => q.c);
    const b = second.filter((q) => q.symbol === symbol).map((q) => q.c);
    assert.ok(Math.abs(b[0] - a.at(-1)!) <= oneStep(a.at(-1)!), symbol);
    const moves = (prices: number[]) =>
      prices.slice(1).map((p, i) => Math.round((p - prices[i]) * 100));
    assert.notDeepEqual(moves(b), moves(a), `${symbol} repeats its path`);
  }
});

Deno.test("SimulatedSource paced never gives a quote time ahead of the clock", async () => {
  const now = Date.now();
  const t = Math.floor(now / 1000);
  const source = new SimulatedSource({
    symbols: ["AAPL", "MSFT"],
    rate: 1_000,
    count: 4,
    resume: new Map([["AAPL", { c: 100, o: 100, h: 100, l: 100, pc: 100, t }]]),
  });
  const seen: { t: number; fetched: number; clock: number }[] = [];
  for await (const q of source.quotes(new AbortController().signal)) {
    seen.push({ t: q.t, fetched: q.fetched_at, clock: Date.now() });
  }
  assert.deepEqual(seen.map((q) => q.t), [t + 1, t + 1, t + 2, t + 2]);
  for (const q of seen) {
    assert.ok(q.t * 1000 <= q.clock, `quote time ${q.t} s ahead of ${q.clock}`);
    assert.ok(q.fetched >= q.t * 1000 && q.fetched <= q.clock);
  }
});
