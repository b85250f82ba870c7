import assert from "node:assert/strict";
import { streamTag } from "../../lib/lake/keys.ts";
import { ObjectConflictError } from "../../lib/lake/lake.ts";
import { decodeLines, encodeLines } from "../../lib/lake/ndjson.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { startLanding } from "../../lib/land/landing.ts";
import { LakeSink, type LakeSinkOptions } from "../../lib/land/sink.ts";
import type { FlushLimits } from "../../lib/land/partition_writer.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import type { Quote } from "../../lib/contract/quote.ts";
import type { StreamMessage } from "../../lib/stream/stream.ts";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";
import { journalConsumer, WrappedLake } from "../_doubles.ts";
import { until } from "../_wait.ts";

const T = Date.UTC(2026, 10, 20, 14, 30) / 1000; // 2026-11-20T14:30:00Z
const STREAM_ID = "embedded:test-stream";
const TAG = streamTag(STREAM_ID);
/** When the sinks under test land, unless a test sets its own clock: a day after the quotes'. */
const LANDED_AT = Date.UTC(2026, 11, 1, 9);

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
  partition: number,
  offset: number,
  value: string,
  key = "AAPL",
): StreamMessage {
  return {
    topic: "stock-quotes",
    partition,
    offset,
    key,
    value,
    timestamp: (T + offset) * 1000,
  };
}

/** The real local lake, with every put recorded in a shared journal (and optionally failing). */
class JournalLake extends WrappedLake {
  failures = 0;
  constructor(dir: string, readonly journal: string[]) {
    super(new LocalLake(dir));
  }
  override async put(key: string, body: Uint8Array) {
    if (this.failures > 0) {
      this.failures--;
      this.journal.push(`put-failed ${key}`);
      throw new Error("injected: lake unavailable");
    }
    await this.inner.put(key, body);
    this.journal.push(`put ${key}`);
  }
}

const quiet = () => setLogSink({ write() {} });

/** A sink over a journaled local lake and consumer, cleaned up by `await using`. */
async function journaled(
  limits: Partial<FlushLimits>,
  extra: Partial<LakeSinkOptions> = {},
) {
  const restore = quiet();
  const dir = await Deno.makeTempDir();
  const journal: string[] = [];
  const lake = new JournalLake(dir, journal);
  const sink = new LakeSink({
    consumer: journalConsumer(journal),
    lake,
    streamId: STREAM_ID,
    limits: { maxEvents: 100, maxBytes: 1 << 20, maxAgeMs: 60_000, ...limits },
    now: () => LANDED_AT,
    ...extra,
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

Deno.test("LakeSink lands one object per partition and flush, under the landing day, named from offsets, then commits", async () => {
  await using t = await journaled({ maxEvents: 4 });
  const { journal, lake, sink } = t;
  await sink.onBatch({
    topic: "stock-quotes",
    partition: 1,
    messages: [
      message(1, 10, JSON.stringify(quote("AAPL", 0))),
      message(1, 11, JSON.stringify(quote("MSFT", 1)), "MSFT"),
      message(1, 12, JSON.stringify(quote("AAPL", 2))),
      message(1, 13, JSON.stringify(quote("AAPL", 3))),
    ],
  });
  // the flush lands in the background: wait for it
  await sink.flushAll();
  // landed on 2026-12-01, though the quotes are of 2026-11-20
  const key =
    `stock-quotes/dt=2026-12-01/partition=1/stock-quotes+${TAG}+1+00000000000000000010+00000000000000000013.ndjson.gz`;
  assert.deepEqual(journal, [`put ${key}`, "commit 1@14"]);

  const lines = (await decodeLines(await lake.get(key))).map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(lines.map((l) => l._stream.offset), [10, 11, 12, 13]);
  assert.deepEqual(lines.map((l) => l.symbol), [
    "AAPL",
    "MSFT",
    "AAPL",
    "AAPL",
  ]);
  assert.deepEqual(lines[0], {
    ...quote("AAPL", 0),
    _stream: {
      id: STREAM_ID,
      topic: "stock-quotes",
      partition: 1,
      offset: 10,
      timestamp: T * 1000 + 10_000,
    },
  });
  assert.deepEqual(sink.stats, {
    consumed: 4,
    events: 4,
    deadLetters: 0,
    objects: 1,
    bytes: sink.stats.bytes,
    retries: 0,
  });
});

Deno.test("LakeSink dead-letters invalid events with their reason, and commits past them", async () => {
  await using t = await journaled({ maxEvents: 3 });
  const { journal, lake, sink } = t;
  await sink.onBatch({
    topic: "stock-quotes",
    partition: 0,
    messages: [
      message(0, 0, "{not json"),
      message(0, 1, JSON.stringify({ ...quote("AAPL", 1), c: -5 })),
      message(0, 2, JSON.stringify(quote("AAPL", 2))),
    ],
  });
  await sink.flushAll();
  const dead =
    `dead-letter/stock-quotes/dt=2026-12-01/partition=0/stock-quotes+${TAG}+0+` +
    "00000000000000000000+00000000000000000001.ndjson.gz";
  assert.equal(journal.at(-2), `put ${dead}`);
  assert.equal(journal.at(-1), "commit 0@3");
  const letters = (await decodeLines(await lake.get(dead))).map((l) =>
    JSON.parse(l)
  );
  assert.equal(letters.length, 2);
  assert.equal(letters[0].value, "{not json");
  assert.equal(letters[0].reason.field, "event");
  assert.match(letters[0].reason.rule, /^must be valid JSON/);
  assert.deepEqual(letters[1].reason, {
    field: "c",
    value: "-5",
    rule: "must be a finite number > 0",
  });
  assert.equal(sink.stats.deadLetters, 2);
  assert.equal(sink.stats.events, 1);
});

Deno.test("LakeSink tallies committed objects by why they were landed, and dead letters by field and rule without the event's details", async () => {
  await using t = await journaled({ maxEvents: 4 });
  const { sink } = t;
  const broken = (n: number, h: number) =>
    JSON.stringify({ ...quote("AAPL", n), l: h + 1, h });
  await sink.onBatch({
    topic: "stock-quotes",
    partition: 0,
    messages: [
      message(0, 0, broken(0, 150)),
      message(0, 1, broken(1, 160)),
      message(0, 2, "{not json"),
      message(0, 3, JSON.stringify(quote("AAPL", 3))),
    ],
  });
  await sink.onBatch({
    topic: "stock-quotes",
    partition: 0,
    messages: [message(0, 4, JSON.stringify(quote("AAPL", 4)))],
  });
  await sink.flushAll();
  assert.deepEqual(sink.tallies.objectsByReason, { count: 2, drain: 1 });
  assert.deepEqual(
    [...sink.tallies.deadLettersByRule.values()],
    [
      { field: "l", rule: "must not exceed h", count: 2 },
      { field: "event", rule: "must be valid JSON", count: 1 },
    ],
  );
});

Deno.test("LakeSink commits nothing while the lake fails, then rewrites the same keys", async () => {
  await using t = await journaled({ maxEvents: 2 });
  const { journal, lake, sink } = t;
  lake.failures = 2;
  await sink.onBatch({
    topic: "stock-quotes",
    partition: 0,
    messages: [
      message(0, 0, JSON.stringify(quote("AAPL", 0))),
      message(0, 1, JSON.stringify(quote("AAPL", 1))),
    ],
  });
  await sink.flushAll();
  const key =
    `stock-quotes/dt=2026-12-01/partition=0/stock-quotes+${TAG}+0+00000000000000000000+00000000000000000001.ndjson.gz`;
  assert.deepEqual(journal, [
    `put-failed ${key}`,
    `put-failed ${key}`,
    `put ${key}`,
    "commit 0@2",
  ]);
  assert.equal(sink.stats.retries, 2);
});

Deno.test("LakeSink lands a batch once its oldest event reaches the age limit", async () => {
  let now = 1_000;
  let looks = 0;
  await using t = await journaled({ maxEvents: 100, maxAgeMs: 500 }, {
    tickMs: 5,
    now: () => (looks++, now),
  });
  const { journal, sink } = t;
  sink.start();
  await sink.onBatch({
    topic: "stock-quotes",
    partition: 2,
    messages: [message(2, 7, JSON.stringify(quote("AAPL", 0)))],
  });
  // The age checks look at the clock: let them look several times.
  const before = looks;
  await until(() => looks >= before + 5, { what: "five age checks" });
  assert.deepEqual(journal, [], "nothing lands before the age limit");
  now += 500;
  await until(() => journal.length >= 2, { what: "the landing and commit" });
  assert.equal(journal.at(-1), "commit 2@8");
});

Deno.test("startLanding drains the embedded stream into the local lake and resumes after a restart", async () => {
  const restore = quiet();
  const dir = await Deno.makeTempDir();
  const stream = new EmbeddedStream({
    dir: `${dir}/stream`,
    topic: "stock-quotes",
    pollIntervalMs: 5,
  });
  const lake = new LocalLake(`${dir}/lake`);
  const limits = { maxEvents: 7, maxBytes: 1 << 20, maxAgeMs: 60_000 };
  const producer = await stream.producer();
  const symbols = ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"];
  const send = (from: number, to: number) =>
    producer.send(
      Array.from({ length: to - from }, (_, i) => {
        const q = quote(symbols[(from + i) % 5], from + i);
        return { key: q.symbol, value: JSON.stringify(q) };
      }),
    );

  await send(0, 50);
  let landing = await startLanding({ stream, lake, groupId: "lake", limits });
  await landing.drain();
  await landing.stop();
  assert.equal(landing.sink.stats.events, 50);

  await send(50, 80);
  landing = await startLanding({ stream, lake, groupId: "lake", limits });
  await landing.drain();
  await landing.stop();
  assert.equal(
    landing.sink.stats.events,
    30,
    "the second run starts at the committed offsets",
  );

  const offsets = new Set<string>();
  for await (const object of lake.list("stock-quotes/")) {
    for (const line of await decodeLines(await lake.get(object.key))) {
      const { _stream } = JSON.parse(line);
      offsets.add(`${_stream.partition}:${_stream.offset}`);
    }
  }
  assert.equal(offsets.size, 80, "every event landed exactly once");
  await producer.close();
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a landing's lag is each partition's end offset minus the group's committed offset", async () => {
  const restore = quiet();
  const dir = await Deno.makeTempDir();
  const stream = new EmbeddedStream({
    dir: `${dir}/stream`,
    topic: "stock-quotes",
    pollIntervalMs: 5,
  });
  const lake = new LocalLake(`${dir}/lake`);
  const limits = { maxEvents: 1000, maxBytes: 1 << 20, maxAgeMs: 60_000 };
  const producer = await stream.producer();
  const send = (from: number, to: number) =>
    producer.send(
      Array.from({ length: to - from }, (_, i) => {
        const q = quote("AAPL", from + i);
        return { key: q.symbol, value: JSON.stringify(q) };
      }),
    );
  await send(0, 20);
  const landing = await startLanding({ stream, lake, groupId: "lake", limits });
  try {
    const partition = (await landing.lag()).find((p) => p.messages > 0);
    assert.deepEqual(
      partition?.messages,
      20,
      "nothing committed yet: all of AAPL's partition",
    );
    await landing.drain();
    assert.ok((await landing.lag()).every((p) => p.messages === 0));
    await send(20, 25);
    // The batch is not landed before FLUSH_MAX_AGE_MS: those 5 are the lag.
    assert.deepEqual(
      (await landing.lag()).find((p) => p.partition === partition!.partition),
      { partition: partition!.partition, messages: 5 },
    );
  } finally {
    await landing.stop();
    await producer.close();
    restore();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startLanding: a drain under way when the landing stops settles, with every event landed, instead of spinning", async () => {
  // The demo's failure path: a cycle fails (dbt kept out by a reader, say)
  // while the landing drains, and the landing is stopped. A drain that spins
  // on settled promises starves the event loop, so the scenario runs in a
  // process of its own, which the test can stop at a deadline.
  const dir = await Deno.makeTempDir();
  const lib = (path: string) =>
    JSON.stringify(new URL(`../../lib/${path}`, import.meta.url).href);
  const script = `
    import { EmbeddedStream } from ${lib("stream/embedded/stream.ts")};
    import { LocalLake } from ${lib("lake/local.ts")};
    import { startLanding } from ${lib("land/landing.ts")};
    import { setLogSink } from ${lib("runtime/log.ts")};
    setLogSink({ write() {} });
    const stream = new EmbeddedStream({ dir: ${
    JSON.stringify(`${dir}/stream`)
  }, topic: "stock-quotes", pollIntervalMs: 5 });
    const producer = await stream.producer();
    await producer.send(${
    JSON.stringify(
      Array.from({ length: 30 }, (_, n) => {
        const q = quote(["AAPL", "MSFT", "TSLA"][n % 3], n);
        return { key: q.symbol, value: JSON.stringify(q) };
      }),
    )
  });
    await producer.close();
    const landing = await startLanding({
      stream,
      lake: new LocalLake(${JSON.stringify(`${dir}/lake`)}),
      groupId: "lake",
      limits: { maxEvents: 1000, maxBytes: 1 << 20, maxAgeMs: 60000 },
    });
    while (landing.sink.stats.consumed < 30) await new Promise((r) => setTimeout(r, 5));
    const settled = await Promise.allSettled([landing.stop(), landing.drain()]);
    console.log(JSON.stringify({ settled: settled.map((r) => r.status), events: landing.sink.stats.events }));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const output = await child.output();
  clearTimeout(timer);
  await Deno.remove(dir, { recursive: true });
  assert.ok(
    output.success,
    `stop() and drain() did not settle within 20 s (exit ${output.code}): ${
      new TextDecoder().decode(output.stderr)
    }`,
  );
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
    settled: ["fulfilled", "fulfilled"],
    events: 30,
  });
});

Deno.test("LocalLake accepts a retried write of the same events and refuses to replace other events", async () => {
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(dir);
  const key = "stock-quotes/symbol=AAPL/date=2026-11-20/x.ndjson.gz";
  await lake.put(key, await encodeLines(["a", "b"]));
  await lake.put(key, await encodeLines(["a", "b"]));
  await assert.rejects(
    async () => lake.put(key, await encodeLines(["a", "c"])),
    ObjectConflictError,
  );
  assert.deepEqual(await decodeLines(await lake.get(key)), ["a", "b"]);
  const leftovers = [];
  for await (
    const entry of Deno.readDir(
      `${dir}/stock-quotes/symbol=AAPL/date=2026-11-20`,
    )
  ) leftovers.push(entry.name);
  assert.deepEqual(
    leftovers,
    ["x.ndjson.gz"],
    "no temporary file is left behind",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("landing a recreated embedded stream into the same lake names its objects apart", async () => {
  const restore = quiet();
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const limits = { maxEvents: 100, maxBytes: 1 << 20, maxAgeMs: 60_000 };
  for (let run = 0; run < 2; run++) {
    // The same topic from offset 0 each time: the stream directory is deleted in between.
    await Deno.remove(`${dir}/stream`, { recursive: true }).catch(() => {});
    const stream = new EmbeddedStream({
      dir: `${dir}/stream`,
      topic: "stock-quotes",
      partitions: 1,
      pollIntervalMs: 5,
    });
    const producer = await stream.producer();
    await producer.send(
      [0, 1, 2].map((n) => ({
        key: "AAPL",
        value: JSON.stringify(quote("AAPL", n + run * 10)),
      })),
    );
    await producer.close();
    const landing = await startLanding({
      stream,
      lake,
      groupId: "lake",
      limits,
    });
    await landing.drain();
    await landing.stop();
  }
  const objects = [];
  for await (const object of lake.list("stock-quotes/")) {
    objects.push(object.key);
  }
  assert.equal(objects.length, 2, objects.join("\n"));
  assert.notEqual(
    objects[0].split("+")[1],
    objects[1].split("+")[1],
    "different stream tags",
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});
