import assert from "node:assert/strict";
import { readCanonicalQuote } from "../../lib/contract/canonical_quote.ts";
import { parseQuote, type Quote } from "../../lib/contract/quote.ts";
import { SimulatedSource } from "../../lib/produce/sources/simulated.ts";

const NOW = Date.UTC(2026, 10, 21, 15, 0);

function valid(): Quote {
  return {
    symbol: "BRK.B",
    c: 187.42,
    d: -3.39,
    dp: -1.8421,
    h: 188.1,
    l: 184.75,
    o: 185.9,
    pc: 184.03,
    t: NOW / 1000 - 2,
    fetched_at: NOW - 100,
    source: "finnhub",
  };
}

/** The read agrees with parseQuote; a canonical text is JSON.stringify of its quote. */
function check(text: string): boolean {
  const read = readCanonicalQuote(new TextEncoder().encode(text), { now: NOW });
  assert.deepEqual(read.validation, parseQuote(text, { now: NOW }), text);
  if (read.canonical) {
    assert.equal(read.validation.ok, true, text);
    assert.equal(JSON.stringify(read.validation.quote), text);
  }
  return read.canonical;
}

/** The text of the valid quote with `field`'s number written as `number`. */
function withNumber(field: keyof Quote, number: string): string {
  return JSON.stringify(valid()).replace(
    new RegExp(`"${field}":[^,}]*`),
    `"${field}":${number}`,
  );
}

Deno.test("readCanonicalQuote() takes the producer's events as canonical, valid and written as JSON.stringify writes them", async () => {
  const source = new SimulatedSource({
    symbols: ["AAPL", "BRK.B", "BINANCE:BTCUSDT", "X"],
    count: 2000,
    rate: 2000,
    paced: false,
  });
  let canonical = 0;
  for await (const quote of source.events(new AbortController().signal)) {
    const text = JSON.stringify(quote);
    const read = readCanonicalQuote(new TextEncoder().encode(text));
    assert.deepEqual(read.validation, parseQuote(text));
    if (read.canonical) canonical++;
  }
  assert.equal(canonical, 2000);
  assert.equal(check(JSON.stringify(valid())), true);
});

Deno.test("readCanonicalQuote() leaves every other writing of an event to parseQuote, with the same validation", () => {
  const base = JSON.stringify(valid());
  const texts = [
    JSON.stringify(valid(), null, 1),
    ` ${base}`,
    `${base} `,
    `${base}\n`,
    JSON.stringify({ ...valid(), extra: 1 }),
    JSON.stringify((({ symbol, ...rest }) => ({ ...rest, symbol }))(valid())),
    base.replace('"symbol":"BRK.B"', '"symbol":"BRK\\u002EB"'),
    base.replace('"source":"finnhub"', '"source":"finn\\nhub"'),
    base.replace('"c":187.42,', '"c":187.42,"c":187.42,'),
    base.replace('"c":187.42', '"c":"187.42"'),
    base.slice(0, -1),
    base.slice(1),
    "",
    "{}",
    "null",
    `{"symbol":"AAPL"}`,
    base.replace('"symbol":"BRK.B"', '"symbol":"BRKÉB"'),
    base.replace('"source":"finnhub"', '"source":"finn\u0000hub"'),
  ];
  for (
    const number of [
      "187.420",
      "0187.42",
      "1.8742e2",
      "1.8742E2",
      "187.",
      ".5",
      "+187.42",
      "-0",
      "-0.0",
      "0.0",
      "00",
      "0.0000001",
      "0.000000123",
      "1234567890123456",
      "123456789012.3456",
      "1e21",
      "Infinity",
      "NaN",
      "--1",
      "1-",
    ]
  ) {
    texts.push(withNumber("c", number), withNumber("d", number));
  }
  for (const text of texts) assert.equal(check(text), false, text);
});

Deno.test("readCanonicalQuote() reads plain decimals exactly as Number() does, and only those JSON.stringify writes back the same", () => {
  // Deterministic pseudo-random decimals of every length around the limits.
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const digits = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 10)).join("");
  let canonical = 0;
  for (let i = 0; i < 20000; i++) {
    const whole = random() < 0.3 ? "0" : String(1 + Math.floor(random() * 9)) +
      digits(Math.floor(random() * 16));
    const fraction = random() < 0.3
      ? ""
      : `.${"0".repeat(random() < 0.3 ? Math.floor(random() * 8) : 0)}${
        digits(Math.floor(random() * 17))
      }${1 + Math.floor(random() * 9)}`;
    const sign = random() < 0.5 ? "-" : "";
    const number = `${sign}${whole}${fraction}`;
    for (const field of ["d", "dp", "c", "h"] as const) {
      if (check(withNumber(field, number))) canonical++;
    }
  }
  assert.ok(canonical > 10000, `only ${canonical} were canonical`);
  for (
    const number of [
      "0",
      "1",
      "0.5",
      "-0.5",
      "0.000001",
      "-0.000001",
      "123456789012345",
      "12345678901234.5",
      "0.123456789012345",
      "0.00000123456789012345",
      "9007199254740.99",
      "0.1",
      "0.3",
      "4.35",
      "1.005",
    ]
  ) {
    assert.equal(check(withNumber("d", number)), true, number);
  }
});

Deno.test("readCanonicalQuote() decodes bytes that are not UTF-8 as TextDecoder does before parseQuote reads them", () => {
  const base = new TextEncoder().encode(JSON.stringify(valid()));
  const at = base.indexOf(0x2e); // the '.' of BRK.B
  for (const byte of [0x80, 0xc3, 0xff]) {
    const bytes = base.slice();
    bytes[at] = byte;
    const read = readCanonicalQuote(bytes, { now: NOW });
    assert.equal(read.canonical, false);
    assert.deepEqual(
      read.validation,
      parseQuote(new TextDecoder().decode(bytes), { now: NOW }),
    );
  }
});

Deno.test("readCanonicalQuote() gives parseQuote's rejection for an invalid event", () => {
  for (
    const text of [
      withNumber("c", "-1"),
      withNumber("l", "200"),
      withNumber("c", "20000000"),
      withNumber("fetched_at", String(NOW + 400_000)),
      withNumber("t", "1.5"),
      JSON.stringify({ ...valid(), symbol: "aapl" }),
      JSON.stringify({ ...valid(), source: "Finnhub" }),
      JSON.stringify({ ...valid(), symbol: "A".repeat(5000) }),
    ]
  ) {
    assert.equal(check(text), false, text);
    const bytes = new TextEncoder().encode(text);
    assert.equal(readCanonicalQuote(bytes, { now: NOW }).validation.ok, false);
  }
});
