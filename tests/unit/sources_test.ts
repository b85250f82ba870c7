import assert from "node:assert/strict";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import type { Quote } from "../../lib/contract/quote.ts";
import { CONTRACTS, type MarketEvent } from "../../lib/contract/kinds.ts";
import type { Trade } from "../../lib/contract/trade.ts";
import {
  parseSourceArgs,
  SOURCE_USAGE,
  sourceKind,
  SOURCES,
} from "../../lib/app/cli.ts";
import type { Source, SourceReject } from "../../lib/produce/source.ts";
import { ReplaySource } from "../../lib/produce/sources/replay.ts";
import { SimulatedSource } from "../../lib/produce/sources/simulated.ts";
import { SimulatedTradesSource } from "../../lib/produce/sources/simulated_trades.ts";

const START = Date.UTC(2026, 10, 20, 20, 59, 50);
const SYMBOLS = ["AAPL", "MSFT", "TSLA"];

async function collect<E extends MarketEvent>(
  source: Source<E>,
  onReject?: (r: SourceReject) => void,
): Promise<E[]> {
  const events: E[] = [];
  for await (
    const event of source.events(new AbortController().signal, onReject)
  ) events.push(event);
  return events;
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
  for await (const _ of source.events(controller.signal)) {
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
  for await (const q of source.events(new AbortController().signal)) {
    seen.push({ t: q.t, fetched: q.fetched_at, clock: Date.now() });
  }
  assert.deepEqual(seen.map((q) => q.t), [t + 1, t + 1, t + 2, t + 2]);
  for (const q of seen) {
    assert.ok(q.t * 1000 <= q.clock, `quote time ${q.t} s ahead of ${q.clock}`);
    assert.ok(q.fetched >= q.t * 1000 && q.fetched <= q.clock);
  }
});

function simulatedTrades(
  options: Partial<ConstructorParameters<typeof SimulatedTradesSource>[0]> = {},
) {
  let clock = START;
  return new SimulatedTradesSource({
    symbols: SYMBOLS,
    count: 2_000,
    paced: false,
    now: () => (clock += 7),
    ...options,
  });
}

Deno.test("SimulatedTradesSource gives valid trades: tick prices, round and odd lots, codes", async () => {
  const trades = await collect(simulatedTrades());
  assert.equal(trades.length, 2_000);
  for (const trade of trades) {
    const result = CONTRACTS.trades.validate(trade, { now: trade.fetched_at });
    assert.ok(result.ok, JSON.stringify(trade));
    assert.deepEqual(result.event, trade, "in contract order");
    assert.equal(Math.round(trade.p * 100) / 100, trade.p, "on the 0.01 grid");
    assert.ok(Number.isSafeInteger(trade.v) && trade.v > 0);
    assert.equal(trade.source, "simulated-trades");
    assert.equal(trade.t, trade.fetched_at);
  }
  const roundLots = trades.filter((t) => t.v % 100 === 0).length;
  assert.ok(roundLots > 0.75 * trades.length, `${roundLots} round lots`);
  assert.ok(trades.some((t) => t.v < 100), "some odd lots");
  assert.ok(trades.some((t) => t.v >= 1_000), "a heavy tail");
  for (const c of [[], ["1"], ["1", "12"]]) {
    assert.ok(trades.some((t) => JSON.stringify(t.c) === JSON.stringify(c)));
  }
  for (const symbol of SYMBOLS) {
    const n = trades.filter((t) => t.symbol === symbol).length;
    assert.ok(n > 500 && n < 830, `${symbol}: ${n} of 2000`);
  }
  // A random walk: consecutive prices of a symbol stay close.
  const aapl = trades.filter((t) => t.symbol === "AAPL").map((t) => t.p);
  assert.ok(Math.abs(aapl[0] - 190) < 1, String(aapl[0]));
  for (let i = 1; i < aapl.length; i++) {
    assert.ok(
      Math.abs(aapl[i] - aapl[i - 1]) < 0.5,
      `${aapl[i - 1]} → ${aapl[i]}`,
    );
  }
});

Deno.test("SimulatedTradesSource is deterministic for a seed and clock readings, and differs across seeds", async () => {
  const a = await collect(simulatedTrades({ seed: 7, count: 300 }));
  const b = await collect(simulatedTrades({ seed: 7, count: 300 }));
  const c = await collect(simulatedTrades({ seed: 8, count: 300 }));
  assert.deepEqual(a, b);
  assert.notDeepEqual(
    a.map((t) => [t.symbol, t.p, t.v]),
    c.map((t) => [t.symbol, t.p, t.v]),
  );
});

Deno.test("SimulatedTradesSource paces trades at the rate overall", async () => {
  const source = new SimulatedTradesSource({
    symbols: SYMBOLS,
    rate: 200,
    seed: 3,
  });
  const controller = new AbortController();
  const started = performance.now();
  let n = 0;
  for await (const _ of source.events(controller.signal)) {
    if (++n === 100) controller.abort();
  }
  const elapsed = performance.now() - started;
  assert.equal(n, 100);
  // 100 exponential gaps of mean 5 ms: about 500 ms, within a wide margin.
  assert.ok(elapsed >= 250 && elapsed < 1_500, `${elapsed} ms`);
  assert.deepEqual(source.stats, { emitted: 100, skipped: {} });
});

Deno.test("ReplaySource --kind trades reads NDJSON, CSV (codes separated by spaces) and gzip, and dead-letters bad lines", async () => {
  const dir = await Deno.makeTempDir();
  const trades = await collect(simulatedTrades({ count: 6 }));
  trades[2] = { ...trades[2], c: ["1", "12"] };
  trades[3] = { ...trades[3], c: [] };
  await Deno.writeTextFile(
    `${dir}/a.ndjson`,
    [
      JSON.stringify(trades[0]),
      "{oops",
      JSON.stringify({ ...trades[1], t: Math.floor(trades[1].t / 1000) }),
      JSON.stringify(trades[1]),
    ].join("\n") + "\n",
  );
  const row = (t: Trade) =>
    [t.symbol, t.p, t.v, t.t, t.c.join(" "), t.fetched_at, t.source].join(",");
  await Deno.writeTextFile(
    `${dir}/b.csv`,
    [
      "symbol,p,v,t,c,fetched_at,source",
      row(trades[2]),
      row(trades[3]),
      row({ ...trades[3], v: -1 }),
      row({ ...trades[3], c: ["1", "no-dash"] }),
    ].join("\n"),
  );
  await Deno.writeFile(
    `${dir}/c.ndjson.gz`,
    await encodeLines(trades.slice(4).map((t) => JSON.stringify(t))),
  );
  const rejects: SourceReject[] = [];
  const source = new ReplaySource({ paths: [dir], kind: "trades" });
  assert.equal(source.kind, "trades");
  assert.equal(source.name, "replay-trades");
  assert.deepEqual(await collect(source, (r) => rejects.push(r)), trades);
  assert.deepEqual(
    rejects.map((r) => [r.position.replace(dir, ""), r.rejection.field]),
    [
      ["/a.ndjson:2", "event"],
      ["/a.ndjson:3", "t"],
      ["/b.csv:4", "v"],
      ["/b.csv:5", "c"],
    ],
  );
  assert.match(rejects[1].rejection.rule, /epoch seconds are too small/);
  // A quote file replayed as trades is rejected line by line, not taken.
  const quotes = await collect(simulated({ count: 2 }));
  await Deno.writeTextFile(
    `${dir}/q.ndjson`,
    quotes.map((q) => JSON.stringify(q)).join("\n"),
  );
  const wrong: SourceReject[] = [];
  assert.deepEqual(
    await collect(
      new ReplaySource({ paths: [`${dir}/q.ndjson`], kind: "trades" }),
      (r) => wrong.push(r),
    ),
    [],
  );
  assert.equal(wrong.length, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the source options: --kind for replay, each source's own kind, and a clear error on a mismatch", () => {
  assert.equal(sourceKind(parseSourceArgs([])), "quotes");
  assert.equal(
    sourceKind(parseSourceArgs(["--source", "simulated-trades"])),
    "trades",
  );
  assert.equal(
    sourceKind(parseSourceArgs(["--source", "replay", "--file", "x.csv"])),
    "quotes",
  );
  assert.equal(
    sourceKind(
      parseSourceArgs([
        "--source",
        "replay",
        "--kind",
        "trades",
        "--file",
        "x.csv",
      ]),
    ),
    "trades",
  );
  assert.throws(
    () => parseSourceArgs(["--source", "simulated", "--kind", "trades"]),
    /'--kind' must be quotes for --source simulated, which yields only quotes: current value is "trades"/,
  );
  assert.throws(
    () =>
      parseSourceArgs(["--source", "replay", "--kind", "bars", "--file", "x"]),
    /must be one of quotes, trades: current value is "bars"/,
  );
  assert.match(SOURCE_USAGE, /--kind quotes\|trades/);
  for (const name of SOURCES) {
    assert.match(SOURCE_USAGE, new RegExp(`\\b${name}\\b`));
  }
});
