import assert from "node:assert/strict";
import type { Trade } from "../../lib/contract/trade.ts";
import type { SourceReject } from "../../lib/produce/source.ts";
import {
  type FinnhubTradesOptions,
  FinnhubTradesSource,
  handshakeStatus,
} from "../../lib/produce/sources/finnhub_trades.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { FatalError } from "../../lib/runtime/retry.ts";
import {
  type FakeFinnhubWs,
  type FinnhubTrade,
  startFakeFinnhubWs,
} from "../fake_finnhub_ws.ts";
import { until } from "../_wait.ts";

const KEY = "ws-test-key-8a7b6c5d4e";

/** A running source, its trades and rejects collected as they come. */
interface Run {
  trades: Trade[];
  rejects: SourceReject[];
  error?: unknown;
  /** Aborts the source and waits for it to end. */
  stop(): Promise<void>;
  done: Promise<void>;
}

function run(source: FinnhubTradesSource): Run {
  const controller = new AbortController();
  const result: Run = {
    trades: [],
    rejects: [],
    stop: async () => {
      controller.abort();
      await result.done;
    },
    done: Promise.resolve(),
  };
  result.done = (async () => {
    try {
      for await (
        const trade of source.events(
          controller.signal,
          (r) => void result.rejects.push(r),
        )
      ) result.trades.push(trade);
    } catch (error) {
      result.error = error;
    }
  })();
  return result;
}

function source(
  fake: FakeFinnhubWs,
  options: Partial<FinnhubTradesOptions> = {},
): FinnhubTradesSource {
  return new FinnhubTradesSource({
    apiKey: KEY,
    symbols: ["AAPL", "MSFT"],
    url: fake.url,
    backoff: { baseMs: 20, maxMs: 100 },
    ...options,
  });
}

let nextT = Date.now() - 60_000;
function trade(s: string, fields: Partial<FinnhubTrade> = {}): FinnhubTrade {
  return { s, p: 189.5, t: nextT++, v: 100, c: ["1", "12"], ...fields };
}

/** Waits until a live connection is subscribed to every symbol. */
async function subscribed(fake: FakeFinnhubWs, symbols: string[], id = 0) {
  await until(
    () =>
      fake.connections[id]?.open === true &&
      symbols.every((s) => fake.connections[id].subscribed.has(s)),
    { what: `connection ${id} subscribed to ${symbols}` },
  );
}

/** Captures every log line (debug and up) while `body` runs. */
async function captureLogs(body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const level = Deno.env.get("LOG_LEVEL");
  Deno.env.set("LOG_LEVEL", "debug");
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    await body();
  } finally {
    restore();
    if (level === undefined) Deno.env.delete("LOG_LEVEL");
    else Deno.env.set("LOG_LEVEL", level);
  }
  return lines;
}

Deno.test("finnhub-trades yields every trade sent exactly once across a dropped and a silent connection, resubscribing each time", async () => {
  await using fake = await startFakeFinnhubWs({ apiKey: KEY });
  const src = source(fake, { idleMs: 300 });
  const sent: FinnhubTrade[] = [];
  const send = (batch: FinnhubTrade[]) => {
    assert.equal(fake.sendTrades(batch), 1);
    sent.push(...batch);
  };
  let r!: Run;
  const logs = await captureLogs(async () => {
    r = run(src);
    await subscribed(fake, ["AAPL", "MSFT"], 0);
    // Several trades a message, not sorted by time, identical prints kept.
    const a = trade("AAPL");
    send([
      trade("AAPL", { t: a.t + 5 }),
      a,
      { ...a },
      trade("AAPL", { c: null }),
    ]);
    send([trade("MSFT", { c: undefined })]);
    await until(() => r.trades.length === 5, { what: "5 trades" });

    fake.drop(); // no close frame
    await subscribed(fake, ["AAPL", "MSFT"], 1);
    send([trade("MSFT"), trade("MSFT")]);
    await until(() => r.trades.length === 7, { what: "7 trades" });

    fake.silence(); // open, but nothing comes: the idle time reconnects
    await subscribed(fake, ["AAPL", "MSFT"], 2);
    send([trade("AAPL")]);
    await until(() => r.trades.length === 8, { what: "8 trades" });
    await r.stop();
  });
  assert.equal(r.error, undefined);
  assert.deepEqual(
    r.trades.map((t) => [t.symbol, t.p, t.t, t.v, t.c]),
    sent.map((t) => [t.s, t.p, t.t, t.v, t.c ?? []]),
  );
  for (const t of r.trades) {
    assert.equal(t.source, "finnhub-trades");
    assert.ok(t.fetched_at >= t.t);
  }
  assert.equal(src.stats.emitted, 8);
  assert.equal(src.stats.counts?.trades, 8);
  assert.equal(src.stats.counts?.reconnects, 2);
  assert.equal(fake.connections.length, 3);
  // Stopping unsubscribes every symbol, then closes.
  await until(() => !fake.connections[2].open, { what: "the close" });
  assert.deepEqual(
    fake.connections[2].received.map((m) => `${m.type} ${m.symbol}`),
    [
      "subscribe AAPL",
      "subscribe MSFT",
      "unsubscribe AAPL",
      "unsubscribe MSFT",
    ],
  );
  const reconnects = logs.filter((l) => l.includes("reconnecting"));
  assert.equal(reconnects.length, 2, logs.join("\n"));
  // No close frame: Deno says code 0 (or 1006), "Unexpected EOF".
  assert.match(reconnects[0], /connection closed \(code (0|1006)\b/);
  assert.match(reconnects[1], /nothing received for 300 ms/);
  // The key is in no log line, nor is the URL with its token.
  for (const line of logs) {
    assert.ok(!line.includes(KEY), line);
    assert.ok(!line.includes("token"), line);
  }
  assert.ok(logs.some((l) => l.includes(`origin=${fake.url}`)));
});

Deno.test("finnhub-trades counts pings as life and answers nothing to them", async () => {
  await using fake = await startFakeFinnhubWs({ apiKey: KEY });
  const src = source(fake, { idleMs: 400 });
  const r = run(src);
  await subscribed(fake, ["AAPL", "MSFT"]);
  // Pings every 100 ms for 1.2 s: three idle times without a trade.
  for (let i = 0; i < 12; i++) {
    const before = src.stats.counts!.pings;
    fake.ping();
    await until(() => src.stats.counts!.pings === before + 1, {
      what: "the ping",
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(src.stats.counts!.reconnects, 0);
  assert.equal(fake.connections.length, 1);
  assert.equal(fake.connections[0].received.length, 2, "only the subscribes");
  await r.stop();
  assert.equal(src.stats.counts!.pings, 12);
  assert.equal(src.stats.counts!.messages, 12);
});

Deno.test("finnhub-trades stops with one clear fatal error when the key is refused (401 at the handshake)", async () => {
  await using fake = await startFakeFinnhubWs({ apiKey: "another-key-1234" });
  const src = source(fake);
  let r!: Run;
  const logs = await captureLogs(async () => {
    r = run(src);
    await r.done;
  });
  assert.ok(r.error instanceof FatalError, String(r.error));
  assert.equal(
    (r.error as Error).message,
    `Finnhub refused the API key at the trades websocket's handshake (HTTP 401 from ${fake.url}): check FINNHUB_API_KEY`,
  );
  assert.deepEqual(fake.handshakes, [401], "no retry of a refused key");
  for (const line of logs) assert.ok(!line.includes(KEY), line);
});

Deno.test("handshakeStatus finds the status of a WebSocket handshake by an HTTP upgrade request", async () => {
  await using fake = await startFakeFinnhubWs({ apiKey: KEY });
  assert.equal(await handshakeStatus(`${fake.url}/?token=wrong`), 401);
  assert.equal(await handshakeStatus(`${fake.url}/?token=${KEY}`), 101);
  assert.equal(await handshakeStatus("ws://127.0.0.1:1/"), undefined);
});

Deno.test("finnhub-trades warns once on an error message (an invalid symbol) and goes on with the other symbols", async () => {
  await using fake = await startFakeFinnhubWs({
    apiKey: KEY,
    invalidSymbols: ["XYZ"],
  });
  const src = source(fake, { symbols: ["XYZ", "AAPL"] });
  let r!: Run;
  const logs = await captureLogs(async () => {
    r = run(src);
    await until(() => src.stats.counts!.errors === 1, { what: "the error" });
    await subscribed(fake, ["AAPL"]);
    fake.sendTrades([trade("AAPL")]);
    await until(() => r.trades.length === 1, { what: "the AAPL trade" });
    await r.stop();
  });
  const warnings = logs.filter((l) => l.includes("level=warn"));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /msg="Invalid symbol XYZ"/);
  assert.equal(r.error, undefined);
});

Deno.test("finnhub-trades drops a repeated whole message but keeps identical prints, and dead-letters an invalid trade", async () => {
  await using fake = await startFakeFinnhubWs({ apiKey: KEY });
  const src = source(fake);
  const r = run(src);
  await subscribed(fake, ["AAPL", "MSFT"]);
  const print = trade("AAPL");
  const message = JSON.stringify({ type: "trade", data: [print, print] });
  fake.sendText(message);
  fake.sendText(message); // the same message again: dropped
  // The same print in another message: kept.
  fake.sendText(JSON.stringify({ type: "trade", data: [print] }));
  // One element breaks the contract (t in seconds), the rest go on.
  fake.sendText(JSON.stringify({
    type: "trade",
    data: [
      trade("MSFT"),
      trade("MSFT", { t: Math.floor(Date.now() / 1000) }),
      "not a trade",
      trade("MSFT", { c: ["1"] }),
    ],
  }));
  await until(() => src.stats.counts!.messages === 4, { what: "4 messages" });
  await until(() => r.trades.length === 5, { what: "5 trades" });
  await r.stop();
  assert.equal(src.stats.skipped.repeated_message, 1);
  assert.equal(src.stats.skipped.invalid, 2);
  assert.deepEqual(
    r.trades.map((t) => [t.symbol, t.t]),
    [
      ["AAPL", print.t],
      ["AAPL", print.t],
      ["AAPL", print.t],
      ["MSFT", r.trades[3].t],
      ["MSFT", r.trades[4].t],
    ],
  );
  assert.deepEqual(
    r.rejects.map((x) => [x.position, x.rejection.field]),
    [
      ["finnhub-trades:message 4:trade 1", "t"],
      ["finnhub-trades:message 4:trade 2", "trade"],
    ],
  );
  assert.match(r.rejects[0].rejection.rule, /epoch seconds are too small/);
});

Deno.test("finnhub-trades checks its options", () => {
  const base = { apiKey: KEY, symbols: ["AAPL"] };
  assert.throws(
    () => new FinnhubTradesSource({ ...base, apiKey: "" }),
    FatalError,
  );
  assert.throws(
    () => new FinnhubTradesSource({ ...base, url: "https://ws.finnhub.io" }),
    /must be a ws:\/\/ or wss:\/\/ URL/,
  );
  assert.throws(
    () => new FinnhubTradesSource({ ...base, symbols: ["aapl"] }),
    /'symbols' must match/,
  );
  assert.equal(
    new FinnhubTradesSource(base).origin,
    "wss://ws.finnhub.io",
  );
});
