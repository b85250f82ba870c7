import assert from "node:assert/strict";
import {
  assertQuote,
  InvalidQuoteError,
  MAX_EVENT_BYTES,
  parseQuote,
  type Quote,
  QUOTE_FIELDS,
  quoteDate,
  validateQuote,
} from "../../lib/contract/quote.ts";

const NOW = Date.UTC(2026, 10, 21, 15, 0);

function valid(): Quote {
  return {
    symbol: "AAPL",
    c: 187.42,
    d: 3.39,
    dp: 1.8421,
    h: 188.1,
    l: 184.75,
    o: 185.9,
    pc: 184.03,
    t: NOW / 1000 - 2,
    fetched_at: NOW - 100,
    source: "finnhub",
  };
}

function rejectionOf(input: unknown) {
  const result = validateQuote(input, { now: NOW });
  assert.equal(
    result.ok,
    false,
    `expected a rejection for ${JSON.stringify(input)}`,
  );
  return (result as { ok: false; rejection: unknown }).rejection;
}

Deno.test("validateQuote() accepts a Finnhub quote and returns only the contract's fields, in order", () => {
  const result = validateQuote({
    ...valid(),
    extra: "dropped",
    _stream: { offset: 1 },
  }, { now: NOW });
  assert.ok(result.ok);
  assert.deepEqual(result.quote, valid());
  assert.deepEqual(Object.keys(result.quote), [...QUOTE_FIELDS]);
});

Deno.test("validateQuote() names the field, value and rule that failed", () => {
  const cases: [
    Record<string, unknown>,
    { field: string; value: string; rule: string },
  ][] = [
    [{ c: -3 }, {
      field: "c",
      value: "-3",
      rule: "must be a finite number > 0",
    }],
    [{ c: 0 }, { field: "c", value: "0", rule: "must be a finite number > 0" }],
    [{ h: "188" }, {
      field: "h",
      value: '"188"',
      rule: "must be a finite number > 0",
    }],
    [{ o: undefined }, {
      field: "o",
      value: "missing",
      rule: "must be a finite number > 0",
    }],
    [{ pc: 2e7 }, {
      field: "pc",
      value: "20000000",
      rule: "must be at most 10000000",
    }],
    [{ dp: null }, {
      field: "dp",
      value: "null",
      rule: "must be a finite number",
    }],
    [{ l: 190 }, {
      field: "l",
      value: "190",
      rule: "must not exceed h (188.1)",
    }],
    [{ t: 0 }, {
      field: "t",
      value: "0",
      rule: "must be a positive integer (epoch seconds)",
    }],
    [{ t: 1.5 }, {
      field: "t",
      value: "1.5",
      rule: "must be a positive integer (epoch seconds)",
    }],
    [{ t: NOW / 1000 + 3600 }, {
      field: "t",
      value: String(NOW / 1000 + 3600),
      rule: "must not be more than 300s after fetched_at",
    }],
    [{ fetched_at: -1 }, {
      field: "fetched_at",
      value: "-1",
      rule: "must be a positive integer (epoch milliseconds)",
    }],
    [{ fetched_at: NOW + 86_400_000 }, {
      field: "fetched_at",
      value: String(NOW + 86_400_000),
      rule: "must not be more than 300s in the future",
    }],
    [{ source: "Finnhub!" }, {
      field: "source",
      value: '"Finnhub!"',
      rule: "must match ^[a-z][a-z0-9_-]{0,31}$",
    }],
  ];
  for (const [change, expected] of cases) {
    assert.deepEqual(
      rejectionOf({ ...valid(), ...change }),
      expected,
      JSON.stringify(change),
    );
  }
});

Deno.test("validateQuote() accepts history replayed for a backfill", () => {
  const old = { ...valid(), t: 946_684_800, fetched_at: 946_684_800_500 };
  assert.ok(validateQuote(old, { now: NOW }).ok);
});

Deno.test("validateQuote() refuses hostile symbols before they reach a key or a query", () => {
  for (
    const symbol of [
      "../../etc",
      "AAPL/../x",
      "aapl",
      "",
      "A'; DROP TABLE raw.source_stock_quotes;--",
      'A"B',
      "ÄPFEL",
      "A B",
      ".HIDDEN",
      "X".repeat(33),
      42,
      null,
    ]
  ) {
    const rejection = rejectionOf({ ...valid(), symbol }) as { field: string };
    assert.equal(rejection.field, "symbol", String(symbol));
  }
  for (const symbol of ["BRK.B", "BINANCE:BTCUSDT", "RDS-A", "X".repeat(32)]) {
    assert.ok(validateQuote({ ...valid(), symbol }, { now: NOW }).ok, symbol);
  }
});

Deno.test("validateQuote() rejects values that are not objects", () => {
  for (const input of [null, [], "AAPL", 42, undefined]) {
    assert.deepEqual((rejectionOf(input) as { field: string }).field, "event");
  }
});

Deno.test("parseQuote() rejects malformed JSON and oversized events", () => {
  assert.deepEqual(parseQuote("{", { now: NOW }), {
    ok: false,
    rejection: {
      field: "event",
      value: '"{"',
      rule:
        "must be valid JSON (Expected property name or '}' in JSON at position 1 (line 1 column 2))",
    },
  });
  const big = JSON.stringify({ ...valid(), pad: "x".repeat(MAX_EVENT_BYTES) });
  const result = parseQuote(big, { now: NOW });
  assert.ok(!result.ok);
  assert.deepEqual(result.rejection, {
    field: "event",
    value: `"${new TextEncoder().encode(big).length} bytes"`,
    rule: `must be at most ${MAX_EVENT_BYTES} bytes`,
  });
  assert.ok(parseQuote(JSON.stringify(valid()), { now: NOW }).ok);
});

Deno.test("assertQuote() throws InvalidQuoteError with a one-line message", () => {
  assert.throws(
    () => assertQuote({ ...valid(), c: Number.NaN }, { now: NOW }),
    (error: unknown) =>
      error instanceof InvalidQuoteError &&
      error.message ===
        "'c' must be a finite number > 0: current value is NaN",
  );
});

Deno.test("validateQuote() never throws and never accepts junk, whatever it is given", () => {
  // A small property test: random JSON-ish values and random mutations of a valid quote.
  let seed = 7;
  const random = () =>
    (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const junk = (): unknown => {
    const pick = Math.floor(random() * 9);
    return [
      () => random() * 2e7 - 1e7,
      () => Math.floor(random() * 4e9) - 1e9,
      () =>
        String.fromCharCode(
          ...Array.from({ length: Math.floor(random() * 40) }, () =>
            Math.floor(random() * 0x3000)),
        ),
      () => null,
      () => undefined,
      () => true,
      () => [junk()],
      () => ({ nested: junk() }),
      () => Number.NaN,
    ][pick]();
  };
  for (let i = 0; i < 5_000; i++) {
    const input: Record<string, unknown> = { ...valid() };
    const field = QUOTE_FIELDS[Math.floor(random() * QUOTE_FIELDS.length)];
    input[field] = junk();
    const result = validateQuote(input, { now: NOW });
    if (result.ok) {
      const q = result.quote;
      assert.match(q.symbol, /^[A-Z0-9][A-Z0-9.:-]{0,31}$/);
      for (const f of ["c", "h", "l", "o", "pc"] as const) {
        assert.ok(q[f] > 0 && q[f] <= 1e7);
      }
      assert.ok(q.l <= q.h);
      assert.ok(Number.isSafeInteger(q.t) && q.t > 0);
    } else {
      assert.equal(typeof result.rejection.rule, "string");
      assert.ok(result.rejection.value.length <= 81);
    }
  }
});

Deno.test("quoteDate() is the UTC day of t", () => {
  assert.equal(
    quoteDate({ t: Date.UTC(2026, 0, 31, 23, 59, 59) / 1000 }),
    "2026-01-31",
  );
  assert.equal(quoteDate({ t: Date.UTC(2026, 1, 1) / 1000 }), "2026-02-01");
});
