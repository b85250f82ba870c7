/**
 * The landing's worker path and its background flushes (lib/land/):
 * batches packed and encoded on worker threads, a failed worker stopping the
 * landing with nothing committed, and a partition's flushes uploading while
 * the next batch is read, committed strictly in order.
 */
import { formatLandedLine } from "../../lib/contract/landed_line.ts";
import assert from "node:assert/strict";
import type { Quote } from "../../lib/contract/quote.ts";
import { streamTag } from "../../lib/lake/keys.ts";
import { decodeLines } from "../../lib/lake/ndjson.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { encodeBatch } from "../../lib/land/encode_batch.ts";
import { EncoderPool } from "../../lib/land/encoder_pool.ts";
import { startLanding } from "../../lib/land/landing.ts";
import { BatchPacker, messageAt } from "../../lib/land/packed_batch.ts";
import { LakeSink } from "../../lib/land/sink.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { FatalError } from "../../lib/runtime/retry.ts";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";
import type { StreamMessage } from "../../lib/stream/stream.ts";
import { journalConsumer, WrappedLake } from "../_doubles.ts";
import { until } from "../_wait.ts";

const T = Date.UTC(2026, 10, 20, 14, 30) / 1000;
const STREAM_ID = "embedded:test-stream";
const TAG = streamTag(STREAM_ID);
const LANDED_AT = Date.UTC(2026, 11, 1, 9);
const FAILING_WORKER = new URL(
  "../fixtures/failing_encode_worker.ts",
  import.meta.url,
);

function quote(symbol: string, n: number): Quote {
  return {
    symbol,
    c: 100 + n,
    d: n,
    dp: n,
    h: 200,
    l: 50,
    o: 100,
    pc: 100,
    t: T + n,
    fetched_at: (T + n) * 1000 + 5,
    source: "simulated",
  };
}

function message(
  offset: number,
  value: string,
  key: string | null = "AAPL",
): StreamMessage {
  return {
    topic: "stock-quotes",
    partition: 0,
    offset,
    key,
    value,
    timestamp: (T + offset) * 1000,
  };
}

/** Valid quotes at offsets `from` to `to - 1`, in partition 0. */
function valid(from: number, to: number): StreamMessage[] {
  return Array.from(
    { length: to - from },
    (_, i) => message(from + i, JSON.stringify(quote("AAPL", from + i))),
  );
}

function batch(messages: StreamMessage[]) {
  return { topic: "stock-quotes", partition: 0, messages };
}

/** The key of the events object of partition 0 from offset `first` to `last`. */
function eventsKey(first: number, last: number): string {
  const pad = (n: number) => String(n).padStart(20, "0");
  return `stock-quotes/dt=2026-12-01/partition=0/stock-quotes+${TAG}+0+${
    pad(first)
  }+${pad(last)}.ndjson.gz`;
}

/**
 * The real local lake; each put is journaled, and a put of a key in `gates`
 * waits for its gate, or fails with what `failures` holds for the key.
 */
class GatedLake extends WrappedLake {
  readonly gates = new Map<string, PromiseWithResolvers<void>>();
  readonly failures = new Map<string, Error[]>();
  readonly started: string[] = [];
  constructor(dir: string, readonly journal: string[]) {
    super(new LocalLake(dir));
  }
  override async put(key: string, body: Uint8Array) {
    this.started.push(key);
    await this.gates.get(key)?.promise;
    const failure = this.failures.get(key)?.shift();
    if (failure) {
      this.journal.push(`put-failed ${key}`);
      throw failure;
    }
    await this.inner.put(key, body);
    this.journal.push(`put ${key}`);
  }
}

/** A sink over a gated local lake and a journaled consumer, cleaned up by `await using`. */
async function gated(
  maxEvents: number,
  encoders?: EncoderPool,
) {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const journal: string[] = [];
  const lake = new GatedLake(dir, journal);
  const sink = new LakeSink({
    consumer: journalConsumer(journal),
    lake,
    streamId: STREAM_ID,
    limits: { maxEvents, maxBytes: 1 << 20, maxAgeMs: 60_000 },
    now: () => LANDED_AT,
    encoders,
  });
  return {
    journal,
    lake,
    sink,
    async [Symbol.asyncDispose]() {
      sink.stop();
      restore();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The promise, which must settle within the deadline of {@linkcode until}. */
async function soon<T>(promise: Promise<T>, what: string): Promise<T> {
  let done = false;
  promise.then(() => (done = true), () => (done = true));
  await until(() => done, { what });
  return promise;
}

/** Whether a promise has settled, looked at after the pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => (done = true), () => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

Deno.test("BatchPacker packs keys and values as UTF-8 behind one index, and messageAt reads them back", () => {
  const packer = new BatchPacker();
  const messages = [
    message(7, "plain"),
    message(8, "é ✓ 😀", null),
    message(9, "", "MSFT"),
    // more than the initial room, to make the buffers grow
    ...Array.from({ length: 300 }, (_, i) => message(10 + i, "x".repeat(i))),
  ];
  for (const m of messages) packer.push(m);
  assert.equal(packer.count, messages.length);
  const packed = packer.take({
    kind: "quotes",
    streamId: STREAM_ID,
    topic: "stock-quotes",
    partition: 0,
  });
  assert.equal(packer.count, 0, "take() starts an empty batch");
  const decoder = new TextDecoder();
  const read = Array.from({ length: packed.count }, (_, i) => {
    const m = messageAt(packed, i);
    return {
      offset: m.offset,
      timestamp: m.timestamp,
      key: m.key === null ? null : decoder.decode(m.key),
      value: decoder.decode(m.value),
    };
  });
  assert.deepEqual(
    read,
    messages.map(({ offset, timestamp, key, value }) => ({
      offset,
      timestamp,
      key,
      value,
    })),
  );
  assert.throws(
    () => messageAt(packed, packed.count),
    new RangeError(
      `Cannot read message ${packed.count} of a packed batch as it holds ${packed.count}`,
    ),
  );
});

Deno.test("EncoderPool encodes a batch on a worker: bad lines become dead letters, and the body decodes to the landed lines", async () => {
  const messages = [
    message(0, JSON.stringify(quote("AAPL", 0))),
    message(1, "{not json"),
    message(2, JSON.stringify({ ...quote("AAPL", 2), c: -5 }), null),
    message(3, JSON.stringify(quote("MSFT", 3)), "MSFT"),
  ];
  const pack = () => {
    const packer = new BatchPacker();
    for (const m of messages) packer.push(m);
    return packer.take({
      kind: "quotes" as const,
      streamId: STREAM_ID,
      topic: "stock-quotes",
      partition: 0,
    });
  };
  const pool = new EncoderPool({ size: 2 });
  try {
    const sent = pack();
    const encoded = await pool.encode(sent);
    assert.equal(sent.bytes.byteLength, 0, "the batch's buffers were moved");
    assert.deepEqual(
      await decodeLines(encoded.events!.body),
      // Spelled as formatLandedLine spells them: the loader's SQL check
      // accepts exactly that spelling.
      [0, 3].map((offset) =>
        formatLandedLine(quote(offset === 0 ? "AAPL" : "MSFT", offset), {
          id: STREAM_ID,
          topic: "stock-quotes",
          partition: 0,
          offset,
          timestamp: (T + offset) * 1000,
        })
      ),
    );
    assert.deepEqual(
      { ...encoded.events, body: undefined },
      { firstOffset: 0, lastOffset: 3, lines: 2, body: undefined },
    );
    const letters = (await decodeLines(encoded.deadLetters!.body)).map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(letters.map((l) => [l.offset, l.key, l.value]), [
      [1, "AAPL", "{not json"],
      [2, null, messages[2].value],
    ]);
    assert.deepEqual(letters[1].reason, {
      field: "c",
      value: "-5",
      rule: "must be a finite number > 0",
    });
    assert.deepEqual(
      encoded.rejections.map((r) => r.offset),
      [1, 2],
    );
    // The worker's result is the thread-free encoding's, byte for byte.
    const here = encodeBatch(pack());
    assert.deepEqual(encoded.events!.body, here.events!.body);
    assert.deepEqual(encoded.deadLetters!.body, here.deadLetters!.body);
  } finally {
    pool.close();
  }
});

Deno.test("encodeBatch checks a trades topic's messages by the trade contract: a trade's fields in order, a bad trade dead-lettered with its reason", async () => {
  const trade = {
    symbol: "AAPL",
    p: 190.25,
    v: 100,
    t: T * 1000 + 5,
    c: ["1", "12"],
    fetched_at: T * 1000 + 20,
    source: "finnhub-trades",
  };
  const packer = new BatchPacker();
  // Fields out of the contract's order, as any JSON producer may send them.
  const { symbol, source, ...rest } = trade;
  packer.push(message(0, JSON.stringify({ source, ...rest, symbol })));
  packer.push(message(1, JSON.stringify({ ...trade, c: ["1", "x y"] })));
  packer.push(message(2, JSON.stringify(quote("AAPL", 2))));
  const encoded = encodeBatch(packer.take({
    kind: "trades",
    streamId: STREAM_ID,
    topic: "stock-trades",
    partition: 0,
  }));
  assert.deepEqual(await decodeLines(encoded.events!.body), [
    formatLandedLine(trade, {
      id: STREAM_ID,
      topic: "stock-trades",
      partition: 0,
      offset: 0,
      timestamp: T * 1000,
    }),
  ]);
  assert.deepEqual(
    encoded.rejections.map(({ offset, reason }) => [offset, reason.field]),
    [[1, "c"], [2, "p"]],
  );
});

Deno.test("EncoderPool: a worker that fails rejects its batch and every later one with a FatalError", async () => {
  const pool = new EncoderPool({ size: 1, module: FAILING_WORKER });
  try {
    const packer = new BatchPacker();
    packer.push(message(0, "{}"));
    const coordinates = {
      kind: "quotes" as const,
      streamId: STREAM_ID,
      topic: "stock-quotes",
      partition: 4,
    };
    await assert.rejects(
      soon(pool.encode(packer.take(coordinates)), "the failed batch"),
      (error: Error) => {
        assert.ok(error instanceof FatalError);
        assert.match(
          error.message,
          /^Cannot encode a batch of partition 4 as a worker of the landing failed: .*injected: the encoder crashed/,
        );
        return true;
      },
    );
    packer.push(message(1, "{}"));
    await assert.rejects(
      pool.encode(packer.take(coordinates)),
      /^FatalError: Cannot encode batches for landing as a worker of the landing failed/,
    );
  } finally {
    pool.close();
  }
});

Deno.test("startLanding stops with the worker's error when a worker fails, and commits nothing", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  try {
    const stream = new EmbeddedStream({
      dir: `${dir}/stream`,
      topic: "stock-quotes",
      pollIntervalMs: 5,
    });
    const producer = await stream.producer();
    await producer.send(
      Array.from({ length: 30 }, (_, n) => {
        const q = quote(["AAPL", "MSFT", "TSLA"][n % 3], n);
        return { key: q.symbol, value: JSON.stringify(q) };
      }),
    );
    await producer.close();
    const lake = new LocalLake(`${dir}/lake`);
    const landing = await startLanding({
      stream,
      lake,
      groupId: "lake",
      limits: { maxEvents: 5, maxBytes: 1 << 20, maxAgeMs: 60_000 },
      encoders: new EncoderPool({ size: 1, module: FAILING_WORKER }),
    });
    await assert.rejects(soon(landing.done, "the landing to stop"), (
      error: Error,
    ) => {
      assert.ok(error instanceof FatalError, String(error));
      assert.match(error.message, /injected: the encoder crashed/);
      return true;
    });
    await landing.stop();
    assert.deepEqual(landing.sink.committed, []);
    assert.equal(landing.sink.stats.events, 0);
    const consumer = await stream.consumer("lake");
    assert.deepEqual(await consumer.committedOffsets(), []);
    const objects = [];
    for await (const object of lake.list("")) objects.push(object.key);
    assert.deepEqual(objects, []);
  } finally {
    restore();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The commits in a journal, in order. */
function commits(journal: string[]): string[] {
  return journal.filter((entry) => entry.startsWith("commit "));
}

Deno.test("LakeSink reads, seals and uploads the next batches while a slow upload runs, and commits each in order", async () => {
  await using t = await gated(2);
  const { journal, lake, sink } = t;
  const gate = Promise.withResolvers<void>();
  lake.gates.set(eventsKey(0, 1), gate);

  // The first flush uploads behind the gate; the next batch is still read,
  // sealed and uploaded, but not committed before the first.
  await sink.onBatch(batch(valid(0, 2)));
  await until(() => lake.started.length === 1, { what: "the first upload" });
  await sink.onBatch(batch(valid(2, 4)));
  assert.deepEqual(sink.consumed, [{ partition: 0, offset: 4 }]);
  await until(() => journal.includes(`put ${eventsKey(2, 3)}`), {
    what: "the second upload, beside the first",
  });
  // A third sealed flush is one too many: this batch waits for the oldest.
  const third = sink.onBatch(batch(valid(4, 6)));
  assert.equal(await settled(third), false, "the third batch waits");
  assert.deepEqual(commits(journal), [], "nothing commits meanwhile");
  assert.ok(!journal.includes(`put ${eventsKey(0, 1)}`));

  gate.resolve();
  await third;
  await sink.flushAll();
  assert.deepEqual(commits(journal), [
    "commit 0@2",
    "commit 0@4",
    "commit 0@6",
  ]);
  assert.ok(
    journal.indexOf(`put ${eventsKey(0, 1)}`) < journal.indexOf("commit 0@2"),
  );
  assert.ok(
    journal.indexOf(`put ${eventsKey(4, 5)}`) < journal.indexOf("commit 0@6"),
  );
  assert.equal(sink.stats.events, 6);
});

Deno.test("LakeSink: a retried upload holds back the commits of the partition's later flushes", async () => {
  await using t = await gated(2);
  const { journal, lake, sink } = t;
  lake.failures.set(eventsKey(0, 1), [
    new Error("injected: lake unavailable"),
    new Error("injected: lake unavailable"),
  ]);
  await sink.onBatch(batch(valid(0, 2)));
  await sink.onBatch(batch(valid(2, 4)));
  await sink.flushAll();
  assert.deepEqual(
    journal.filter((entry) => entry.includes(eventsKey(0, 1))),
    [
      `put-failed ${eventsKey(0, 1)}`,
      `put-failed ${eventsKey(0, 1)}`,
      `put ${eventsKey(0, 1)}`,
    ],
  );
  assert.deepEqual(commits(journal), ["commit 0@2", "commit 0@4"]);
  assert.ok(
    journal.indexOf(`put ${eventsKey(0, 1)}`) < journal.indexOf("commit 0@2"),
    "the first commit waits for its retried upload",
  );
  assert.equal(sink.stats.retries, 2);
});

Deno.test("LakeSink: an upload that fails for good fails the sink, and no later flush of the partition commits", async () => {
  await using t = await gated(2);
  const { journal, lake, sink } = t;
  const denied = new FatalError("injected: access denied");
  lake.failures.set(eventsKey(0, 1), [denied]);
  const gate = Promise.withResolvers<void>();
  lake.gates.set(eventsKey(0, 1), gate);
  await sink.onBatch(batch(valid(0, 2)));
  await sink.onBatch(batch(valid(2, 4)));
  await until(() => journal.includes(`put ${eventsKey(2, 3)}`), {
    what: "the second upload",
  });
  gate.resolve();
  await assert.rejects(soon(sink.failure, "the sink to fail"), denied);
  await assert.rejects(sink.flushAll(), denied);
  await assert.rejects(sink.onBatch(batch(valid(4, 6))), denied);
  assert.deepEqual(commits(journal), []);
  assert.deepEqual(sink.committed, []);
  assert.equal(sink.stats.events, 0);
});
