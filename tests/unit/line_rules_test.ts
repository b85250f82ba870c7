/**
 * The loader's SQL line check (lib/warehouse/duckdb/line_rules.ts) against
 * the TypeScript contract (lib/contract/landed_line.ts), on generated lines:
 * the SQL accepts no line the contract refuses, reads the same coordinates,
 * and accepts every valid line as the landing writer writes it.
 */
import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  formatLandedLine,
  parseLandedLine,
} from "../../lib/contract/landed_line.ts";
import { type Quote, validateQuote } from "../../lib/contract/quote.ts";
import { validateTrade } from "../../lib/contract/trade.ts";
import { CONTRACTS, type EventKind } from "../../lib/contract/kinds.ts";
import { lineRules } from "../../lib/warehouse/duckdb/line_rules.ts";

const NOW = Date.UTC(2026, 11, 1, 15, 0);

/** A seeded generator, so that a failure names a line that comes back. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    state = (state ^ (state >>> 13)) >>> 0;
    return state / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}

type Random = ReturnType<typeof random>;

const STRINGS = [
  "",
  "kafka:Qk3x",
  "embedded:/tmp/x",
  'a"b',
  "a\\b",
  "é",
  "\u0001",
  "tab\there",
  "\ud83d\ude00",
  "stock-quotes",
  "quotes.v2",
];

function price(r: Random): number {
  return r.pick([
    () => Math.round(r.next() * 1e6) / 100,
    () => r.next() * 1e7,
    () => r.int(1000) + 1,
    () => 1e-7 * (r.int(9) + 1),
    () => 1e7,
    () => 1e7 + 0.01,
    () => 0,
    () => -1.5,
  ])();
}

function number(r: Random): number {
  return r.pick([
    () => (r.next() - 0.5) * 100,
    () => r.int(100) - 50,
    () => -0,
    () => 1e-9 * r.int(10),
    () => 0.1 + 0.2,
  ])();
}

/** Values that break a field's rule, or sit at its edge. */
const EDGES: Record<string, (q: Record<string, number>) => unknown[]> = {
  symbol: () => ["aapl", "", "A".repeat(33), "A".repeat(32), ".A", 7, null],
  c: () => [0, -1.5, 1e7, 1e7 + 0.01, "5", null, 1e-300],
  h: (q) => [q.l - 0.01, q.l, 1e7 + 1],
  l: (q) => [q.h + 0.01, q.h, 0],
  o: () => [0, -0, 1e7],
  pc: () => [-2, 1e7 + 1e-8],
  d: () => [1e21, -1e-7, "1", true],
  dp: () => [1e300, 2 ** 70, null],
  t: (q) => [
    0,
    Math.floor(q.fetched_at / 1000) + 300,
    Math.floor(q.fetched_at / 1000) + 301,
    2 ** 53,
    1.5,
    -1,
  ],
  fetched_at: () => [NOW + 300_000, NOW + 300_001, 0, 2 ** 53 - 1, 1.5, -5],
  source: () => ["Finnhub", "", "x".repeat(33), "x".repeat(32), "_a", 1],
};

/** A valid quote, or one with one field broken or at its edge. */
function quote(r: Random): Record<string, unknown> {
  const fetched = NOW - r.int(86_400_000);
  const h = price(r) + 10;
  const q: Record<string, number | string> = {
    symbol: r.pick(["AAPL", "BRK.B", "BINANCE:BTCUSDT", "X-1"]),
    c: price(r) + 1,
    d: number(r),
    dp: number(r),
    h,
    l: h / (1 + r.int(5)),
    o: price(r) + 1,
    pc: price(r) + 1,
    t: Math.floor(fetched / 1000) - r.int(100),
    fetched_at: fetched,
    source: r.pick(["simulated", "finnhub", "replay_2"]),
  };
  if (r.next() < 0.6) {
    const field = r.pick(Object.keys(EDGES));
    const value = r.pick(EDGES[field](q as Record<string, number>));
    q[field] = value as number;
  }
  return q;
}

function stream(r: Random) {
  const s: Record<string, unknown> = {
    id: r.pick(["kafka:Qk3x", "embedded:/tmp/x", "é", "\ud83d\ude00"]),
    topic: r.pick(["stock-quotes", "quotes.v2"]),
    partition: r.int(12),
    offset: r.int(1e9),
    timestamp: NOW - r.int(1e8),
  };
  if (r.next() < 0.2) {
    const edges: Record<string, unknown[]> = {
      id: STRINGS,
      topic: STRINGS,
      partition: [-1, 2 ** 31, 2 ** 31 - 1, 1.5],
      offset: [0, 2 ** 53 - 1, 2 ** 53, -1],
      timestamp: [0, 1.5, 2 ** 53],
    };
    const field = r.pick(Object.keys(edges));
    s[field] = r.pick(edges[field]);
  }
  return s as {
    id: string;
    topic: string;
    partition: number;
    offset: number;
    timestamp: number;
  };
}

/** Ways to spell a line otherwise than the writer does. */
const MUTATIONS: ((line: string, r: Random) => string)[] = [
  (line) => line.replace('"c":', '"c": '),
  (line) => line.replace("}}", "},}"),
  (line) => line.replace("}}", '},"extra":1}'),
  (line) => line.replace('{"symbol"', '{"c":1,"symbol"'),
  (line) => line.replace(/"c":[^,]+/, '"c":NaN'),
  (line) => line.replace(/"d":[^,]+/, '"d":Infinity'),
  (line) => line.replace(/"c":([^,]+)/, '"c":"$1"'),
  (line) => line.replace(/"t":(\d+)/, '"t":$1.0'),
  (line) => line.replace(/"t":(\d+)/, (_, t) => `"t":${Number(t) / 1e9}e9`),
  (line) => line.replace(/"offset":\d+/, '"offset":-0'),
  (line) => line.replace(/"c":([^,]+)/, '"c":1_$1'),
  (line) => line.replace(/"o":([^,]+)/, '"o":+$1'),
  (line) => line.replace(/"pc":[^,]+/, '"pc":.5'),
  (line) => line.replace(/"dp":[^,]+/, '"dp":NaN'),
  (line) => line.replace(/"h":([^,]+)/, '"h":[$1]'),
  (line) => line.replace(/"timestamp":(\d+)/, '"timestamp":$1,'),
  (line) => line.replace(/"symbol":"([^"]*)"/, '"symbol":"$1\\""'),
  (line) => line.replace(/"id":"/, '"id":"\\"'),
  (line) => line.replace(/,"source":"[^"]*"/, ""),
  (line) => line.slice(0, -1),
  (line) => `${line} `,
  (line) => `${line}x`,
  (line) => line.replace('"symbol"', '"sym\\u0062ol"'),
  (line) => line.replace(/"symbol":"([^"]*)"/, '"symbol":"\\u0041$1"'),
  (line, r) => line.slice(0, r.int(line.length)),
  () => "[]",
  () => "null",
  () => '"text"',
];

Deno.test("the SQL line check accepts no line the contract refuses, and every valid line the writer writes", async () => {
  const r = random(20261201);
  const lines: string[] = [];
  for (let i = 0; i < 6_000; i++) {
    const q = quote(r);
    const s = stream(r);
    const valid = validateQuote(q, { now: NOW });
    const line = valid.ok
      ? formatLandedLine(valid.quote, s)
      : JSON.stringify({ ...q, _stream: s });
    lines.push(line);
    if (i % 2 === 0) lines.push(r.pick(MUTATIONS)(line, r));
  }
  // The writer's lines with every value valid.
  for (let i = 0; i < 2_000; i++) {
    const q = quote(r) as unknown as Quote;
    q.symbol = "MSFT";
    q.source = "finnhub";
    q.c = q.o = q.pc = Math.round(r.next() * 1e6) / 100 + 0.01;
    q.h = q.c + 1;
    q.l = q.c / 2;
    q.fetched_at = NOW - r.int(1e9);
    q.t = Math.floor(q.fetched_at / 1000) - r.int(1000);
    q.d = number(r);
    q.dp = number(r);
    const valid = validateQuote(q, { now: NOW });
    assert.ok(valid.ok, JSON.stringify(q));
    lines.push(formatLandedLine(valid.quote, {
      id: r.pick(["kafka:Qk3x", "embedded:/tmp/x", "é"]),
      topic: "stock-quotes",
      partition: r.int(12),
      offset: r.int(2 ** 40),
      timestamp: NOW - r.int(1e6),
    }));
  }

  const { accepted, writerLines } = await compareVerdicts(lines, "quotes");
  // The generator reaches both sides.
  assert.ok(accepted > 2_000, `accepted ${accepted}`);
  assert.ok(writerLines > 2_000, `writer's lines ${writerLines}`);
  assert.ok(lines.length - accepted > 3_000);
});

/** Values that break a trade field's rule, or sit at its edge. */
const TRADE_EDGES: Record<string, (t: Record<string, number>) => unknown[]> = {
  symbol: () => ["aapl", "", "A".repeat(33), 7],
  p: () => [0, -1, 1e7, 1e7 + 0.01, "5", null],
  v: () => [0, -1, -0, 1e12, 1e12 + 1, 0.5, "100", null],
  t: (t) => [
    0,
    99_999_999_999,
    100_000_000_000,
    t.fetched_at + 300_000,
    t.fetched_at + 300_001,
    1.5,
    2 ** 53,
  ],
  c: () => [
    [],
    ["1"],
    ["1", "12", "T"],
    Array.from({ length: 16 }, (_, i) => String(i)),
    Array.from({ length: 17 }, (_, i) => String(i)),
    ["123456789"],
    [""],
    ["a b"],
    [1],
    "1",
    null,
    [["1"]],
  ],
  fetched_at: () => [NOW + 300_000, NOW + 300_001, 0, 1.5],
  source: () => ["Finnhub", "", "finnhub-trades", 1],
};

/** A valid trade, or one with one field broken or at its edge. */
function trade(r: Random): Record<string, unknown> {
  const fetched = NOW - r.int(86_400_000);
  const t: Record<string, unknown> = {
    symbol: r.pick(["AAPL", "BRK.B", "BINANCE:BTCUSDT"]),
    p: price(r) + 1,
    v: r.pick([100, 1, 0, 0.00012, 250_000]),
    t: fetched - r.int(5_000),
    c: r.pick([[], ["1"], ["1", "12"], ["T", "I"]]),
    fetched_at: fetched,
    source: r.pick(["simulated-trades", "finnhub-trades", "replay"]),
  };
  if (r.next() < 0.6) {
    const field = r.pick(Object.keys(TRADE_EDGES));
    t[field] = r.pick(TRADE_EDGES[field](t as Record<string, number>));
  }
  return t;
}

/** Ways to spell a trade's line otherwise than the writer does. */
const TRADE_MUTATIONS: ((line: string) => string)[] = [
  (line) => line.replace('"c":[', '"c": ['),
  (line) => line.replace(/"c":\[([^\]]*)\]/, '"c":[$1,]'),
  (line) => line.replace(/"c":\[([^\]]*)\]/, '"c":"$1"'),
  (line) => line.replace(/"c":\["/, '"c":[ "'),
  (line) => line.replace(/"c":\[/, '"c":[1,'),
  (line) => line.replace(/"v":([^,]+)/, '"v":"$1"'),
  (line) => line.replace(/"t":(\d+)/, '"t":$1.0'),
  (line) => line.replace(/"p":[^,]+/, '"p":NaN'),
  (line) => line.replace(/,"c":\[[^\]]*\]/, ""),
  (line) => line.replace("}}", '},"extra":1}'),
  (line) => line.replace(/"c":\["([^"]*)"/, '"c":["\\u0031$1"'),
];

Deno.test("the SQL line check of trades accepts no line the contract refuses, and every valid line the writer writes", async () => {
  const r = random(20261202);
  const lines: string[] = [];
  for (let i = 0; i < 6_000; i++) {
    const t = trade(r);
    const s = { ...stream(r), topic: "stock-trades" };
    const valid = validateTrade(t, { now: NOW });
    const line = valid.ok
      ? formatLandedLine(valid.trade, s)
      : JSON.stringify({ ...t, _stream: s });
    lines.push(line);
    if (i % 2 === 0) lines.push(r.pick(TRADE_MUTATIONS)(line));
  }
  const { accepted, writerLines } = await compareVerdicts(lines, "trades");
  assert.ok(accepted > 1_500, `accepted ${accepted}`);
  assert.ok(writerLines > 1_500, `writer's lines ${writerLines}`);
  assert.ok(
    lines.length - accepted > 3_000,
    `refused ${lines.length - accepted}`,
  );
});

/**
 * Holds the SQL's verdict on each line to the TypeScript contract's: a line
 * the SQL accepts is valid, with the same coordinates; a valid line as the
 * writer spells it passes the SQL too, unless its stream id or topic needs an
 * escape or its partition is beyond Kafka's (32-bit) partitions.
 *
 * @returns How many lines the SQL accepted, and how many writer's lines there were.
 */
async function compareVerdicts(lines: string[], kind: EventKind) {
  const contract = CONTRACTS[kind];
  const sql = await sqlVerdicts(lines, kind);
  let accepted = 0;
  let writerLines = 0;
  for (const [index, line] of lines.entries()) {
    const ts = parseLandedLine(line, { now: NOW }, contract);
    const verdict = sql[index];
    if (verdict !== null) {
      accepted++;
      assert.ok(!("reason" in ts), `SQL accepted a refused line: ${line}`);
      assert.deepEqual(verdict, [
        ts.streamId,
        ts.topic,
        ts.partition,
        ts.offset,
        ts.timestamp,
      ], line);
    }
    if ("reason" in ts) continue;
    const parsed = JSON.parse(line);
    const valid = contract.validate(parsed, { now: NOW });
    assert.ok(valid.ok);
    if (
      formatLandedLine(valid.event, parsed._stream) === line &&
      !line.includes("\\") && parsed._stream.partition < 2 ** 31
    ) {
      writerLines++;
      assert.notEqual(verdict, null, `SQL refused a writer's line: ${line}`);
    }
  }
  return { accepted, writerLines };
}

/** Each line's coordinates when the SQL accepts it, else null. */
async function sqlVerdicts(
  lines: string[],
  kind: EventKind = "quotes",
): Promise<(unknown[] | null)[]> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    await connection.run("create table lines (n integer, line varchar)");
    const appender = await connection.createAppender("lines");
    for (const [n, line] of lines.entries()) {
      appender.appendInteger(n);
      appender.appendVarchar(line);
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
    const rules = lineRules(kind);
    const c = rules.coordinates;
    const rows = (await connection.runAndReadAll(
      `select n, coalesce(${rules.passes}, false), ${c.streamId}, ${c.topic},
         ${c.partition}, ${c.offset}, ${c.timestamp}
       from (select n, line, ${rules.values} as j from lines) order by n`,
      [NOW],
    )).getRows();
    return rows.map(([, passes, ...coordinates]) =>
      passes
        ? coordinates.map((v) => typeof v === "bigint" ? Number(v) : v)
        : null
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
