import assert from "node:assert/strict";
import { describeRejection, parseQuote } from "../../lib/contract/quote.ts";
import {
  MAX_CONDITIONS,
  parseTrade,
  type Trade,
  TRADE_FIELDS,
  validateTrade,
} from "../../lib/contract/trade.ts";

const NOW = Date.UTC(2026, 10, 21, 15, 0);

function valid(): Trade {
  return {
    symbol: "AAPL",
    p: 187.42,
    v: 100,
    t: NOW - 1_500,
    c: ["1", "12"],
    fetched_at: NOW - 100,
    source: "finnhub-trades",
  };
}

function rejectionOf(input: unknown) {
  const result = validateTrade(input, { now: NOW });
  assert.equal(
    result.ok,
    false,
    `expected a rejection for ${JSON.stringify(input)}`,
  );
  return (result as { ok: false; rejection: unknown }).rejection;
}

Deno.test("validateTrade() accepts a trade and returns only the contract's fields, in order", () => {
  const input = { ...valid(), extra: "dropped", _stream: { offset: 1 } };
  const result = validateTrade(input, { now: NOW });
  assert.ok(result.ok);
  assert.deepEqual(result.trade, valid());
  assert.deepEqual(Object.keys(result.trade), [...TRADE_FIELDS]);
  // The codes are copied, not shared with the input.
  assert.notEqual(result.trade.c, input.c);
});

Deno.test("validateTrade() accepts a price update without a trade, a crypto fraction and no condition codes", () => {
  for (
    const trade of [
      { ...valid(), v: 0 },
      { ...valid(), symbol: "BINANCE:BTCUSDT", p: 91_250.5, v: 0.00042 },
      { ...valid(), c: [] },
    ]
  ) {
    const result = validateTrade(trade, { now: NOW });
    assert.ok(result.ok, JSON.stringify(trade));
    assert.deepEqual(result.trade, trade);
  }
});

Deno.test("validateTrade() names the field, value and rule that failed", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ symbol: "aapl" }, `'symbol' must match`],
    [{ p: 0 }, `'p' must be a finite number > 0: current value is 0`],
    [
      { p: "187.42" },
      `'p' must be a finite number > 0: current value is "187.42"`,
    ],
    [{ p: 2e7 }, `'p' must be at most 10000000: current value is 20000000`],
    [{ v: -5 }, `'v' must be a finite number >= 0: current value is -5`],
    [{ v: NaN }, `'v' must be a finite number >= 0: current value is NaN`],
    [
      { v: undefined },
      `'v' must be a finite number >= 0: current value is missing`,
    ],
    [
      { v: 2e12 },
      `'v' must be at most 1000000000000: current value is 2000000000000`,
    ],
    [
      { t: NOW - 1_500 + 0.5 },
      `'t' must be a positive integer (epoch milliseconds)`,
    ],
    [
      { t: NOW / 1000 - 2 },
      `'t' must be epoch milliseconds, at least 100000000000 (1973-03-03); epoch seconds are too small: current value is ${
        NOW / 1000 - 2
      }`,
    ],
    [
      { t: NOW - 100 + 301_000 },
      `'t' must not be more than 300s after fetched_at: current value is ${
        NOW - 100 + 301_000
      }`,
    ],
    [
      { fetched_at: NOW + 301_000 },
      `'fetched_at' must not be more than 300s in the future`,
    ],
    [{ c: "1" }, `'c' must be a list of at most 16 codes matching`],
    [{ c: [1] }, `'c' must be a list of at most 16 codes matching`],
    [{ c: ["has space"] }, `'c' must be a list of at most 16 codes matching`],
    [
      { c: Array.from({ length: MAX_CONDITIONS + 1 }, () => "1") },
      `'c' must be a list of at most 16 codes matching`,
    ],
    [{ source: "Finnhub" }, `'source' must match`],
  ];
  for (const [change, message] of cases) {
    const rejection = rejectionOf({ ...valid(), ...change });
    assert.ok(
      describeRejection(rejection as never).startsWith(message),
      `${JSON.stringify(change)}: ${describeRejection(rejection as never)}`,
    );
  }
  assert.deepEqual(rejectionOf([valid()]), {
    field: "event",
    value: JSON.stringify([valid()]).slice(0, 80) + "…",
    rule: "must be a JSON object",
  });
});

Deno.test("parseTrade() refuses malformed and oversized text as parseQuote() does", () => {
  for (const text of ["{not json", `{"p":1,"pad":"${"x".repeat(5000)}"}`]) {
    const trade = parseTrade(text, { now: NOW });
    const quote = parseQuote(text, { now: NOW });
    assert.equal(trade.ok, false);
    assert.equal(quote.ok, false);
    assert.deepEqual(
      (trade as { rejection: unknown }).rejection,
      (quote as { rejection: unknown }).rejection,
    );
  }
  const result = parseTrade(JSON.stringify(valid()), { now: NOW });
  assert.ok(result.ok);
  assert.deepEqual(result.trade, valid());
});
