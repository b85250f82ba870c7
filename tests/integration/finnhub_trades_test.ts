/**
 * Finnhub's trades WebSocket, faked locally (tests/fake_finnhub_ws.ts),
 * through the real pipeline on the embedded defaults: `producer.ts --source
 * finnhub-trades`, `consumer.ts`, `loader.ts` and dbt. The fake drops the
 * connection without a close frame, then goes silent with the socket open;
 * every trade it sent lands exactly once, both reconnects happen, the 1m
 * candle's volume and VWAP are the hand-computed ones, and the key appears
 * in no output and no file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";
import { type FinnhubTrade, startFakeFinnhubWs } from "../fake_finnhub_ws.ts";
import {
  assertSuccess,
  files,
  holds,
  ROOT,
  run,
  spawn,
  stateIn,
  withWarehouse,
} from "../_helpers.ts";
import { until } from "../_wait.ts";

const KEY = "ws-sentinel-key-7d21c9";

Deno.test({
  name:
    "finnhub-trades through the pipeline: every trade once across a dropped and a silent connection, 1m volume and VWAP as computed by hand, the key nowhere",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ws-trades-" });
    await using fake = await startFakeFinnhubWs({
      apiKey: KEY,
      invalidSymbols: ["NOPE"],
    });
    const env = {
      ...stateIn(dir),
      KAFKA_BROKERS: "",
      S3_BUCKET: "",
      FINNHUB_API_KEY: KEY,
      FINNHUB_WS_URL: fake.url,
      FINNHUB_WS_IDLE_MS: "1500",
      SYMBOLS: "AAPL,MSFT,NOPE",
      LOG_LEVEL: "debug",
    };
    // Every trade in one whole minute that ended before now.
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    const at = (second: number) => minute + second * 1000;
    const batches: FinnhubTrade[][] = [
      // Several trades per message, not in time order.
      [
        { s: "AAPL", p: 190.1, v: 100, t: at(5), c: ["1"] },
        { s: "AAPL", p: 190.3, v: 300, t: at(2), c: null },
        { s: "AAPL", p: 190.2, v: 0, t: at(3) },
      ],
      [{ s: "MSFT", p: 420.5, v: 50, t: at(4), c: ["1", "12"] }],
      // After the dropped connection.
      [
        { s: "AAPL", p: 190.0, v: 200, t: at(20), c: ["1"] },
        { s: "AAPL", p: 190.4, v: 100, t: at(21), c: ["1"] },
      ],
      // After the silent one: two identical prints in one message are two trades.
      [
        { s: "AAPL", p: 190.5, v: 100, t: at(40), c: ["1"] },
        { s: "AAPL", p: 190.5, v: 100, t: at(40), c: ["1"] },
      ],
    ];
    const total = batches.flat().length;
    const stream = new EmbeddedStream({
      dir: `${dir}/stream`,
      topic: "stock-trades",
      partitions: 3,
    });
    const published = async () => {
      const consumer = await stream.consumer("test-reader");
      try {
        return (await consumer.endOffsets()).reduce((n, p) => n + p.offset, 0);
      } finally {
        await consumer.stop();
      }
    };
    const subscribed = (connections: number) =>
      until(
        () =>
          fake.connections.length === connections &&
          fake.live().some((c) =>
            c.subscribed.has("AAPL") && c.subscribed.has("MSFT")
          ),
        { timeoutMs: 20_000, what: `connection ${connections} subscribed` },
      );
    const send = async (...indexes: number[]) => {
      for (const i of indexes) assert.equal(fake.sendTrades(batches[i]), 1);
      const expected = batches.slice(0, Math.max(...indexes) + 1).flat().length;
      await until(async () => await published() === expected, {
        timeoutMs: 20_000,
        what: `${expected} trades in the stream`,
      });
    };

    const producer = spawn("producer.ts", ["--source", "finnhub-trades"], env);
    await subscribed(1);
    fake.ping();
    await send(0, 1);
    fake.drop(); // no close frame
    await subscribed(2);
    await send(2);
    fake.silence(); // open, but nothing comes: FINNHUB_WS_IDLE_MS reconnects
    await subscribed(3);
    await send(3);
    producer.child.kill("SIGTERM");
    const produced = await producer.finished;
    assertSuccess(produced, "producer");
    assert.match(produced.stderr, /Invalid symbol NOPE/);
    assert.match(produced.stderr, /reconnects=2/);

    const outputs = [produced.stdout, produced.stderr];
    for (
      const [script, args] of [
        ["consumer.ts", ["--drain"]],
        ["loader.ts", []],
        ["scripts/transform.ts", ["build"]],
      ] as const
    ) {
      const result = await run(script, [...args], env);
      assertSuccess(result, script);
      outputs.push(result.stdout, result.stderr);
    }

    await withWarehouse(`${dir}/warehouse.duckdb`, async (query) => {
      assert.deepEqual(
        await query(
          "select count(*), count(distinct stream_offset || '/' || stream_partition) from raw.source_stock_trades",
        ),
        [[BigInt(total), BigInt(total)]],
      );
      assert.deepEqual(
        await query(
          "select count(*) from silver.silver_clean_stock_trades where symbol = 'AAPL'",
        ),
        [[7n]],
      );
      // By hand, AAPL's minute: the 0-volume print moves no volume;
      // volume 100 + 300 + 200 + 100 + 100 + 100 = 900;
      // VWAP = (190.1·100 + 190.3·300 + 190.0·200 + 190.4·100 + 190.5·200) / 900
      //      = 171,240 / 900 = 190.26666…, rounded to 6 decimals by the model.
      const [[volume, vwap, open, close]] = await query(
        `select volume, vwap, open, close from gold.gold_trade_candles
         where symbol = 'AAPL' and timeframe = '1m'`,
      );
      assert.equal(Number(volume), 900);
      assert.equal(Number(vwap), 190.266667);
      assert.deepEqual([Number(open), Number(close)], [190.3, 190.5]);
      const [[msftVolume, msftVwap]] = await query(
        `select volume, vwap from gold.gold_trade_candles
         where symbol = 'MSFT' and timeframe = '1m'`,
      );
      assert.deepEqual([Number(msftVolume), Number(msftVwap)], [50, 420.5]);
    });

    for (const output of outputs) {
      assert.ok(!output.includes(KEY), "the key in an output");
      assert.ok(!/token=/.test(output), "a token parameter in an output");
    }
    for await (const path of files(dir)) {
      assert.ok(!await holds(path, KEY), `the key in ${path}`);
    }
    for await (const path of files(join(ROOT, "dbt_stocks", "logs"))) {
      assert.ok(!await holds(path, KEY), `the key in ${path}`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
