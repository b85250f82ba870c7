import assert from "node:assert/strict";
import { LocalLake } from "../../lib/lake/local.ts";
import type { Trade } from "../../lib/contract/trade.ts";
import { publish } from "../../lib/produce/publisher.ts";
import {
  emptyStats,
  type OnReject,
  type TradeSource,
} from "../../lib/produce/source.ts";
import type { OutgoingMessage } from "../../lib/stream/stream.ts";

Deno.test("publish sends a trades source's events keyed by symbol, and dead-letters its rejects under its own name", async () => {
  const dir = await Deno.makeTempDir();
  const now = Date.now();
  const trades: Trade[] = ["AAPL", "MSFT", "AAPL"].map((symbol, i) => ({
    symbol,
    p: 100 + i,
    v: 100,
    t: now - 10 + i,
    c: ["1"],
    fetched_at: now,
    source: "finnhub-trades",
  }));
  const source: TradeSource = {
    name: "finnhub-trades",
    kind: "trades",
    stats: emptyStats(),
    async *events(_signal: AbortSignal, onReject?: OnReject) {
      yield trades[0];
      await onReject?.({
        position: "finnhub-trades:message 1:trade 1",
        input: '{"s":"AAPL","p":-1}',
        rejection: { field: "p", value: "-1", rule: "must be > 0" },
      });
      yield* trades.slice(1);
    },
  };
  const sent: OutgoingMessage[] = [];
  const stats = await publish({
    source,
    producer: {
      send: (messages) => {
        sent.push(...messages);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    },
    lake: new LocalLake(dir),
    signal: new AbortController().signal,
  });
  assert.deepEqual(stats, { published: 3, rejected: 1 });
  assert.deepEqual(
    sent,
    trades.map((t) => ({ key: t.symbol, value: JSON.stringify(t) })),
  );
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/dead-letter`)) {
    files.push(entry.name);
  }
  assert.deepEqual(files, ["source=finnhub-trades"]);
  await Deno.remove(dir, { recursive: true });
});
