import assert from "node:assert/strict";
import type { Clock } from "../../lib/produce/budget.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import type { Quote } from "../../lib/contract/quote.ts";
import { FatalError } from "../../lib/runtime/retry.ts";
import type { SourceReject } from "../../lib/produce/source.ts";
import {
  FinnhubSource,
  type FinnhubSourceOptions,
} from "../../lib/produce/sources/finnhub.ts";
import {
  ALL_ZERO,
  type FakeFinnhub,
  type FakeStep,
  finnhubQuote,
  startFakeFinnhub,
} from "../fake_finnhub.ts";
import { until } from "../_wait.ts";

const KEY = "test-key-5f1e2d3c4b";
/** 2020-02-25T14:30:00Z, Finnhub's documented example time. */
const T = 1_582_641_000;
/** The fake clock starts a minute after `T`, so `t` is never in the future. */
const START = (T + 60) * 1000;

/** A clock whose sleeps pass at once, moving its time forward; it records each sleep. */
class FakeClock implements Clock {
  current = START;
  sleeps: number[] = [];

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    this.current += ms;
    return Promise.resolve();
  }
}

interface Setup {
  fake: FakeFinnhub;
  clock: FakeClock;
  source: FinnhubSource;
}

/** Starts a fake Finnhub with `scripts` and a source pointed at it; backoff has no jitter. */
async function setup(
  scripts: Record<string, FakeStep[]>,
  options: Partial<FinnhubSourceOptions> = {},
): Promise<Setup> {
  const clock = new FakeClock();
  const fake = await startFakeFinnhub({
    apiKey: KEY,
    scripts,
    now: () => clock.now(),
  });
  const source = new FinnhubSource({
    apiKey: KEY,
    symbols: Object.keys(scripts),
    baseUrl: fake.baseUrl,
    clock,
    backoff: { random: () => 0 },
    timeoutMs: 2_000,
    ...options,
  });
  return { fake, clock, source };
}

/**
 * Reads `count` quotes, then stops. A real-time guard (3 s) aborts a source
 * that never yields, so a broken source fails the count instead of hanging.
 */
async function take(
  source: FinnhubSource,
  count: number,
  onReject?: (reject: SourceReject) => void,
): Promise<Quote[]> {
  const controller = new AbortController();
  const guard = setTimeout(() => controller.abort(), 3_000);
  const quotes: Quote[] = [];
  try {
    if (count === 0) return quotes;
    for await (const quote of source.events(controller.signal, onReject)) {
      quotes.push(quote);
      if (quotes.length >= count) break;
    }
  } finally {
    clearTimeout(guard);
  }
  return quotes;
}

/** Runs the source until it throws, and returns what it threw. */
async function failure(source: FinnhubSource): Promise<unknown> {
  const controller = new AbortController();
  const guard = setTimeout(() => controller.abort(), 3_000);
  try {
    for await (const _ of source.events(controller.signal)) {
      // keep polling
    }
  } catch (error) {
    return error;
  } finally {
    clearTimeout(guard);
  }
  throw new Error("the source ended without an error");
}

/** The largest number of requests in any window of `windowMs`. */
function busiestWindow(times: number[], windowMs = 60_000): number {
  return Math.max(
    0,
    ...times.map((start) =>
      times.filter((t) => t >= start && t < start + windowMs).length
    ),
  );
}

/** Captures log lines at `level` and above while `run` runs. */
async function captureLogs(
  level: string,
  run: () => Promise<void>,
): Promise<string[]> {
  const lines: string[] = [];
  const previousLevel = Deno.env.get("LOG_LEVEL");
  Deno.env.set("LOG_LEVEL", level);
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    await run();
  } finally {
    restore();
    if (previousLevel === undefined) Deno.env.delete("LOG_LEVEL");
    else Deno.env.set("LOG_LEVEL", previousLevel);
  }
  return lines;
}

Deno.test("FinnhubSource yields valid quotes with source, symbol and fetched_at", async () => {
  const { fake, clock, source } = await setup({
    AAPL: [{ body: finnhubQuote({ t: T, c: 261.74 }) }],
    MSFT: [{ body: finnhubQuote({ t: T + 1, c: 410.5, h: 412, l: 405 }) }],
  });
  await using _ = fake;

  const quotes = await take(source, 2);

  assert.deepEqual(quotes, [
    {
      symbol: "AAPL",
      c: 261.74,
      d: 0.15,
      dp: 0.0573,
      h: 263.31,
      l: 260.68,
      o: 261.07,
      pc: 261.59,
      t: T,
      fetched_at: START,
      source: "finnhub",
    },
    {
      symbol: "MSFT",
      c: 410.5,
      d: 148.91,
      dp: 56.925,
      h: 412,
      l: 405,
      o: 261.07,
      pc: 261.59,
      t: T + 1,
      fetched_at: START,
      source: "finnhub",
    },
  ]);
  assert.equal(clock.now(), START);
  assert.deepEqual(source.stats, {
    emitted: 2,
    skipped: {},
    counts: { requests: 2 },
  });
  assert.deepEqual(fake.requests.map((r) => r.symbol), ["AAPL", "MSFT"]);
});

Deno.test("FinnhubSource sends the key in the X-Finnhub-Token header and never in the URL", async () => {
  const { fake, source } = await setup({
    AAPL: [{ body: finnhubQuote({ t: T }) }],
    "BRK.B": [{ body: finnhubQuote({ t: T }) }],
  });
  await using _ = fake;

  await take(source, 2);

  assert.deepEqual(
    fake.requests.map((r) => [r.target, r.tokenVia, r.authorized]),
    [
      ["/api/v1/quote?symbol=AAPL", "header", true],
      ["/api/v1/quote?symbol=BRK.B", "header", true],
    ],
  );
  for (const request of fake.requests) {
    assert.ok(!request.target.includes(KEY));
    assert.ok(!request.target.includes("token"));
  }
});

Deno.test("FinnhubSource stops with a FatalError naming FINNHUB_API_KEY when the key is rejected (401)", async () => {
  const { fake, source } = await setup(
    { AAPL: [{ body: finnhubQuote({ t: T }) }] },
    { apiKey: "wrong-key-0a9b8c7d" },
  );
  await using _ = fake;

  const error = await failure(source);

  assert.ok(error instanceof FatalError);
  assert.equal(
    error.message,
    "Finnhub rejected the API key (HTTP 401 Invalid API key.): check FINNHUB_API_KEY",
  );
  assert.ok(!error.message.includes("wrong-key-0a9b8c7d"));
  assert.equal(fake.requests.length, 1);
  assert.deepEqual(source.stats, {
    emitted: 0,
    skipped: {},
    counts: { requests: 1 },
  });
});

Deno.test("FinnhubSource never writes the key to a log line, even at debug during a 401", async () => {
  const secret = "leaky-key-77aa66bb";
  // The fake accepts only KEY, so the source's key is rejected with a 401.
  const { fake, source } = await setup(
    { AAPL: [{ body: finnhubQuote({ t: T }) }] },
    { apiKey: secret },
  );
  await using _ = fake;
  let error: unknown;
  const lines = await captureLogs("debug", async () => {
    error = await failure(source);
  });
  assert.ok(error instanceof FatalError);
  assert.ok(!String(error.message).includes(secret));
  assert.ok(lines.length > 0, "the run logged nothing to check");
  assert.ok(!lines.some((line) => line.includes(secret)), lines.join("\n"));
});

Deno.test("FinnhubSource redacts an echoed key from retry log lines", async () => {
  const { fake, source } = await setup({
    AAPL: [
      { status: 502, body: `upstream said token=${KEY} is fine` },
      { body: finnhubQuote({ t: T }) },
    ],
  });
  await using _ = fake;
  const lines = await captureLogs("debug", async () => {
    assert.equal((await take(source, 1)).length, 1);
  });
  const retry = lines.filter((line) => line.includes("retrying"));
  assert.equal(retry.length, 1);
  assert.ok(retry[0].includes("upstream said token=*** is fine"), retry[0]);
  assert.ok(!lines.some((line) => line.includes(KEY)));
});

Deno.test("FinnhubSource stops with a clear FatalError when the plan has no access (403)", async () => {
  const { fake, source } = await setup({
    AAPL: [{
      status: 403,
      body: { error: "You don't have access to this resource." },
    }],
  });
  await using _ = fake;

  const error = await failure(source);

  assert.ok(error instanceof FatalError);
  assert.equal(
    error.message,
    "Finnhub API key has no access to /quote for AAPL (HTTP 403 You don't have access to this resource.): check the plan of FINNHUB_API_KEY or the symbol",
  );
  assert.ok(!error.message.includes(KEY));
  assert.equal(fake.requests.length, 1);
});

Deno.test("FinnhubSource stops with a FatalError naming FINNHUB_BASE_URL when /quote is not found (404)", async () => {
  await using fake = await startFakeFinnhub({ apiKey: KEY });
  const source = new FinnhubSource({
    apiKey: KEY,
    symbols: ["AAPL"],
    baseUrl: fake.baseUrl.replace("/api/v1", "/api/v2"),
  });

  const error = await failure(source);

  assert.ok(error instanceof FatalError);
  assert.equal(
    error.message,
    "Finnhub has no /quote endpoint at the configured base URL (HTTP 404 Not found.): check FINNHUB_BASE_URL",
  );
  assert.deepEqual(fake.requests.map((r) => r.target), [
    "/api/v2/quote?symbol=AAPL",
  ]);
});

Deno.test("FinnhubSource honours Retry-After on 429 and keeps every 60 s window within the budget", async () => {
  const { fake, clock, source } = await setup({
    AAPL: [
      {
        status: 429,
        headers: { "Retry-After": "7" },
        body: { error: "API limit reached. Please try again later." },
      },
      { body: finnhubQuote({ t: T + 1 }) },
      { body: finnhubQuote({ t: T + 2 }) },
      { body: finnhubQuote({ t: T + 3 }) },
    ],
    MSFT: [
      { body: finnhubQuote({ t: T + 1 }) },
      { body: finnhubQuote({ t: T + 2 }) },
      { body: finnhubQuote({ t: T + 3 }) },
    ],
  }, { callsPerMinute: 3 });
  await using _ = fake;

  const quotes = await take(source, 6);

  assert.deepEqual(
    quotes.map((q) => `${q.symbol}@${q.t - T}`),
    ["AAPL@1", "MSFT@1", "AAPL@2", "MSFT@2", "AAPL@3", "MSFT@3"],
  );
  // Retry-After 7 s, then the budget: 3 calls at 0 s, 7 s and 7 s fill the minute.
  assert.deepEqual(clock.sleeps, [7_000, 53_000, 7_000, 53_000]);
  const times = fake.requests.map((r) => r.at - START);
  assert.deepEqual(times, [0, 7_000, 7_000, 60_000, 67_000, 67_000, 120_000]);
  assert.equal(busiestWindow(times), 3);
  assert.deepEqual(source.stats, {
    emitted: 6,
    skipped: { rate_limited: 1 },
    counts: { requests: 7 },
  });
});

Deno.test("FinnhubSource backs off exponentially on 429 without Retry-After", async () => {
  const { fake, clock, source } = await setup({
    AAPL: [
      { status: 429, body: { error: "API limit reached." } },
      { status: 429, body: { error: "API limit reached." } },
      { body: finnhubQuote({ t: T }) },
    ],
  });
  await using _ = fake;

  assert.equal((await take(source, 1)).length, 1);

  assert.deepEqual(clock.sleeps, [200, 400]);
  assert.equal(fake.requests.length, 3);
  assert.deepEqual(source.stats.skipped, { rate_limited: 2 });
});

Deno.test("FinnhubSource skips and counts all-zero quotes", async () => {
  const { fake, source } = await setup({
    AAPL: [{ body: ALL_ZERO }, { body: ALL_ZERO }, {
      body: finnhubQuote({ t: T }),
    }],
  });
  await using _ = fake;

  const quotes = await take(source, 1);

  assert.deepEqual(quotes.map((q) => [q.symbol, q.t]), [["AAPL", T]]);
  assert.equal(fake.requests.length, 3);
  assert.deepEqual(source.stats, {
    emitted: 1,
    skipped: { all_zero: 2 },
    counts: { requests: 3 },
  });
});

Deno.test("FinnhubSource does not re-publish a quote whose t has not changed", async () => {
  const { fake, source } = await setup({
    AAPL: [
      { body: finnhubQuote({ t: T, c: 261 }) },
      { body: finnhubQuote({ t: T, c: 262 }) },
      { body: finnhubQuote({ t: T + 5, c: 263 }) },
    ],
  });
  await using _ = fake;

  const quotes = await take(source, 2);

  assert.deepEqual(quotes.map((q) => [q.t, q.c]), [[T, 261], [T + 5, 263]]);
  assert.deepEqual(source.stats, {
    emitted: 2,
    skipped: { unchanged_t: 1 },
    counts: { requests: 3 },
  });
});

Deno.test("FinnhubSource retries a response slower than timeoutMs", async () => {
  const { fake, clock, source } = await setup({
    AAPL: [
      { delayMs: 1_000, body: finnhubQuote({ t: T }) },
      { body: finnhubQuote({ t: T + 1 }) },
    ],
  }, { timeoutMs: 200 });
  await using _ = fake;

  const started = performance.now();
  const quotes = await take(source, 1);
  const elapsed = performance.now() - started;

  assert.deepEqual(quotes.map((q) => q.t), [T + 1]);
  assert.deepEqual(source.stats, {
    emitted: 1,
    skipped: { timeout: 1 },
    counts: { requests: 2 },
  });
  assert.deepEqual(clock.sleeps, [200]);
  assert.equal(fake.requests.length, 2);
  // It waited for the timeout (a quote at T would mean it waited for the answer).
  assert.ok(elapsed >= 190, `took ${elapsed} ms`);
});

Deno.test("FinnhubSource retries 5xx with backoff, then yields", async () => {
  const { fake, clock, source } = await setup({
    AAPL: [
      { status: 500, body: "Internal Server Error" },
      { status: 503, body: { error: "Service unavailable" } },
      { body: finnhubQuote({ t: T }) },
    ],
  });
  await using _ = fake;

  const quotes = await take(source, 1);

  assert.deepEqual(quotes.map((q) => q.t), [T]);
  assert.deepEqual(clock.sleeps, [200, 400]);
  assert.deepEqual(source.stats, {
    emitted: 1,
    skipped: { server_error: 2 },
    counts: { requests: 3 },
  });
});

Deno.test("FinnhubSource retries a body that is not JSON", async () => {
  const { fake, source } = await setup({
    AAPL: [
      { body: "<html>Bad gateway</html>" },
      { body: "[]" },
      { body: finnhubQuote({ t: T }) },
    ],
  });
  await using _ = fake;

  assert.equal((await take(source, 1)).length, 1);
  assert.deepEqual(source.stats.skipped, { bad_response: 2 });
});

Deno.test("FinnhubSource gives up on a symbol after maxRetries and moves on to the next", async () => {
  const { fake, clock, source } = await setup({
    AAPL: [{ status: 500, body: "down" }],
    MSFT: [{ body: finnhubQuote({ t: T }) }],
  }, { maxRetries: 2 });
  await using _ = fake;

  let quotes: Quote[] = [];
  const lines = await captureLogs("info", async () => {
    quotes = await take(source, 1);
  });

  assert.deepEqual(quotes.map((q) => q.symbol), ["MSFT"]);
  assert.deepEqual(fake.requests.map((r) => r.symbol), [
    "AAPL",
    "AAPL",
    "AAPL",
    "MSFT",
  ]);
  assert.deepEqual(clock.sleeps, [200, 400]);
  assert.deepEqual(source.stats, {
    emitted: 1,
    skipped: { server_error: 3, gave_up: 1 },
    counts: { requests: 4 },
  });
  assert.equal(lines.length, 3);
  assert.match(lines[2], /level=warn/);
  assert.match(
    lines[2],
    /msg="finnhub call failed; skipping symbol this round"/,
  );
  assert.match(lines[2], /symbol=AAPL/);
  assert.match(lines[2], /max_retries=2/);
});

Deno.test("FinnhubSource sends an invalid quote to onReject with a precise rejection", async () => {
  const { fake, source } = await setup({
    AAPL: [
      { body: finnhubQuote({ t: T, h: 250, l: 260.68 }) },
      { body: finnhubQuote({ t: T + 1 }) },
    ],
  });
  await using _ = fake;
  const rejects: SourceReject[] = [];

  const quotes = await take(source, 1, (reject) => rejects.push(reject));

  assert.deepEqual(quotes.map((q) => q.t), [T + 1]);
  assert.equal(rejects.length, 1);
  assert.equal(rejects[0].position, "finnhub:AAPL");
  assert.deepEqual(rejects[0].rejection, {
    field: "l",
    value: "260.68",
    rule: "must not exceed h (250)",
  });
  assert.deepEqual(JSON.parse(rejects[0].input), {
    ...finnhubQuote({ t: T, h: 250, l: 260.68 }),
    symbol: "AAPL",
    fetched_at: START,
    source: "finnhub",
  });
  assert.deepEqual(source.stats, {
    emitted: 1,
    skipped: { invalid: 1 },
    counts: { requests: 2 },
  });
});

Deno.test("FinnhubSource ends quietly when the signal aborts during a request", async () => {
  const { fake, source } = await setup({
    AAPL: [{ delayMs: 1_000, body: finnhubQuote({ t: T }) }],
  });
  await using _ = fake;
  const controller = new AbortController();
  // Abort once the request is in flight: the fake holds it for 1 s.
  const inFlight = until(() => fake.requests.length > 0, {
    what: "the quote request",
  }).then(() => controller.abort());
  const quotes: Quote[] = [];
  const started = performance.now();
  for await (const quote of source.events(controller.signal)) {
    quotes.push(quote);
  }
  await inFlight;
  assert.deepEqual(quotes, []);
  assert.ok(performance.now() - started < 900);
  assert.deepEqual(source.stats, {
    emitted: 0,
    skipped: {},
    counts: { requests: 1 },
  });
});

Deno.test("FinnhubSource refuses to start without an API key", () => {
  for (const apiKey of ["", "  "]) {
    assert.throws(
      () => new FinnhubSource({ apiKey, symbols: ["AAPL"] }),
      (error) =>
        error instanceof FatalError &&
        error.message ===
          "Cannot create the Finnhub source as 'FINNHUB_API_KEY' must be set to a Finnhub API key: current value is empty",
    );
  }
});

Deno.test("FinnhubSource rejects bad options with a RangeError", () => {
  assert.throws(
    () => new FinnhubSource({ apiKey: KEY, symbols: [] }),
    new RangeError(
      "Cannot create the Finnhub source as 'symbols' must be a non-empty list: current value is []",
    ),
  );
  assert.throws(
    () => new FinnhubSource({ apiKey: KEY, symbols: ["aapl"] }),
    new RangeError(
      `Cannot create the Finnhub source as 'symbols' must match ^[A-Z0-9][A-Z0-9.:-]{0,31}$: current value is "aapl"`,
    ),
  );
  assert.throws(
    () =>
      new FinnhubSource({
        apiKey: KEY,
        symbols: ["AAPL"],
        baseUrl: "finnhub.io",
      }),
    new RangeError(
      `Cannot create the Finnhub source as 'baseUrl' must be an http(s) URL: current value is "finnhub.io"`,
    ),
  );
  assert.throws(
    () =>
      new FinnhubSource({ apiKey: KEY, symbols: ["AAPL"], callsPerMinute: 0 }),
    new RangeError(
      "Cannot create the Finnhub source as 'callsPerMinute' must be a positive integer: current value is 0",
    ),
  );
  assert.throws(
    () => new FinnhubSource({ apiKey: KEY, symbols: ["AAPL"], maxRetries: -1 }),
    new RangeError(
      "Cannot create the Finnhub source as 'maxRetries' must be a non-negative integer: current value is -1",
    ),
  );
});
