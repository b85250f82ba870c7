import assert from "node:assert/strict";
import { join } from "node:path";
import {
  EmbeddedStream,
  type EmbeddedStreamOptions,
} from "../../lib/stream/embedded/stream.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import type { StreamMessage } from "../../lib/stream/stream.ts";
import { readAll, recordLine } from "../_embedded.ts";
import { until } from "../_wait.ts";

const TOPIC = "stock-quotes";
/** A value that makes each record of offsets 0–9 at timestamp 1000–9999 exactly 100 bytes. */
const VALUE = "x".repeat(100 - recordLine(0, 1000, "K", "").length);
const SEGMENT_0 = "00000000000000000000.log";

/** A one-partition stream on a clock the test moves. */
function clocked(
  dir: string,
  options: Partial<EmbeddedStreamOptions> = {},
): { stream: EmbeddedStream; clock: { now: number } } {
  const clock = { now: 1000 };
  const stream = new EmbeddedStream({
    dir,
    topic: TOPIC,
    partitions: 1,
    pollIntervalMs: 5,
    now: () => clock.now,
    ...options,
  });
  return { stream, clock };
}

/** Sends `count` records of 100 bytes, one a send. */
async function sendEach(stream: EmbeddedStream, count: number): Promise<void> {
  const producer = await stream.producer();
  for (let i = 0; i < count; i++) {
    await producer.send([{ key: "K", value: VALUE }]);
  }
  await producer.close(); // also waits for the retention the sends started
}

async function segmentNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(join(dir, TOPIC, "partition-0"))) {
    names.push(entry.name);
  }
  return names.sort();
}

const name = (base: number) => `${String(base).padStart(20, "0")}.log`;
const offsets = (messages: StreamMessage[]) => messages.map((m) => m.offset);

/** Captures the stream's log lines while `body` runs. */
async function captureLogs(body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    await body();
  } finally {
    restore();
  }
  return lines;
}

Deno.test("EmbeddedStream rolls the active segment before a send would pass segmentBytes, naming each segment by its base offset", async () => {
  const dir = await Deno.makeTempDir();
  const { stream } = clocked(dir, { segmentBytes: 250 });
  await sendEach(stream, 7);
  assert.deepEqual(await segmentNames(dir), [0, 2, 4, 6].map(name));
  for (const base of [0, 2, 4]) {
    const { size } = await Deno.stat(
      join(dir, TOPIC, "partition-0", name(base)),
    );
    assert.equal(size, 200);
  }
  // A send of several records goes whole to one segment.
  const producer = await stream.producer();
  await producer.send(
    Array.from({ length: 3 }, () => ({ key: "K", value: VALUE })),
  );
  await producer.close();
  assert.deepEqual(await segmentNames(dir), [0, 2, 4, 6, 7].map(name));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream rolls the active segment once its first record is segmentMs old", async () => {
  const dir = await Deno.makeTempDir();
  const { stream, clock } = clocked(dir, { segmentMs: 1000 });
  const producer = await stream.producer();
  for (const at of [1000, 1500, 1999, 2000, 2500, 3500]) {
    clock.now = at;
    await producer.send([{ key: "K", value: VALUE }]);
  }
  await producer.close();
  // 2000 is 1000 after the first record at 1000; 3500 is 1500 after 2000.
  assert.deepEqual(await segmentNames(dir), [0, 3, 5].map(name));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream reads across segment boundaries and resumes a group inside a segment or at a boundary", async () => {
  const dir = await Deno.makeTempDir();
  const { stream } = clocked(dir, { segmentBytes: 250 });
  await sendEach(stream, 9);
  assert.deepEqual(offsets(await readAll(stream, "all")), [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
  ]);

  // Commit inside a segment (3, with its position), then at a boundary (6).
  const consumer = await stream.consumer("g");
  let seen = 0;
  const running = consumer.run({
    async onBatch(batch) {
      seen += batch.messages.length;
      if (seen === 9) await consumer.commit([{ partition: 0, offset: 3 }]);
    },
    onRevoked: () => Promise.resolve(),
  });
  await until(() => seen === 9, { what: "9 messages" });
  await consumer.stop();
  await running;
  assert.deepEqual(offsets(await readAll(stream, "g")), [3, 4, 5, 6, 7, 8]);
  const offsetsFile = join(dir, TOPIC, "offsets", "g.json");
  assert.deepEqual(JSON.parse(await Deno.readTextFile(offsetsFile)), {
    0: { offset: 3 },
  });
  for (const committed of [6, 5, 0]) {
    await Deno.writeTextFile(
      offsetsFile,
      JSON.stringify({ 0: { offset: committed } }),
    );
    assert.deepEqual(
      offsets(await readAll(stream, "g")),
      Array.from({ length: 9 - committed }, (_, i) => committed + i),
    );
  }

  // A consumer tailing the log follows it into segments rolled after it started.
  const tail = await stream.consumer("tail");
  const tailed: number[] = [];
  const tailing = tail.run({
    onBatch(batch) {
      tailed.push(...offsets(batch.messages));
      return Promise.resolve();
    },
    onRevoked: () => Promise.resolve(),
  });
  await until(() => tailed.length === 9, { what: "the first 9 messages" });
  await sendEach(stream, 5);
  await until(() => tailed.length === 14, { what: "14 messages" });
  await tail.stop();
  await tailing;
  assert.deepEqual(tailed, Array.from({ length: 14 }, (_, i) => i));
  assert.deepEqual(await segmentNames(dir), [0, 2, 4, 6, 8, 10, 12].map(name));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream deletes closed segments older than retentionMs, and readers start at the new log start", async () => {
  const dir = await Deno.makeTempDir();
  const { stream, clock } = clocked(dir, {
    segmentMs: 1000,
    retentionMs: 10_000,
  });
  const producer = await stream.producer();
  for (const at of [1000, 2000, 3000, 4000]) {
    clock.now = at;
    await producer.send([{ key: "K", value: VALUE }]);
  }
  // At 13,000 the segment of 2000 is just 11,000 old, that of 3000 10,000 (kept).
  clock.now = 13_000;
  await producer.send([{ key: "K", value: VALUE }]);
  await producer.close();
  assert.deepEqual(await segmentNames(dir), [2, 3, 4].map(name));

  const consumer = await stream.consumer("g");
  assert.deepEqual(await consumer.startOffsets(), [{
    partition: 0,
    offset: 2,
  }]);
  assert.deepEqual(await consumer.endOffsets(), [{ partition: 0, offset: 5 }]);
  await consumer.stop();
  assert.deepEqual(offsets(await readAll(stream, "g")), [2, 3, 4]);
  const [last] = await stream.lastMessages(10);
  assert.deepEqual(offsets(last.messages), [2, 3, 4]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream keeps by age what a consumer group has not committed past", async () => {
  const dir = await Deno.makeTempDir();
  const { stream, clock } = clocked(dir, {
    segmentMs: 1000,
    retentionMs: 10_000,
  });
  await Deno.mkdir(join(dir, TOPIC, "offsets"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, TOPIC, "offsets", "lagging.json"),
    JSON.stringify({ 0: { offset: 2 } }),
  );
  await Deno.writeTextFile(
    join(dir, TOPIC, "offsets", "ahead.json"),
    JSON.stringify({ 0: { offset: 4 } }),
  );
  const producer = await stream.producer();
  for (const at of [1000, 2000, 3000, 4000, 50_000]) {
    clock.now = at;
    await producer.send([{ key: "K", value: VALUE }]);
  }
  await producer.close();
  // Every closed segment is old; the lagging group still needs offsets 2 and 3.
  assert.deepEqual(await segmentNames(dir), [2, 3, 4].map(name));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream deletes the oldest segments while the rest still hold retentionBytes, whatever the groups committed", async () => {
  const dir = await Deno.makeTempDir();
  const { stream } = clocked(dir, {
    segmentBytes: 200,
    retentionBytes: 350,
  });
  await Deno.mkdir(join(dir, TOPIC, "offsets"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, TOPIC, "offsets", "g.json"),
    JSON.stringify({ 0: { offset: 1, segment: 0, position: 100 } }),
  );
  const lines = await captureLogs(() => sendEach(stream, 9));
  // 900 bytes in segments of 200: without 0 and 2, 500 bytes remain; without 4, 300.
  assert.deepEqual(await segmentNames(dir), [4, 6, 8].map(name));
  const deleted = lines.filter((l) => l.includes("deleted stream segment"));
  assert.equal(deleted.length, 2);
  assert.match(
    deleted[0],
    /offsets=0\.\.2 bytes=200 reason=size limit="350 bytes" log_start=2/,
  );
  assert.match(
    deleted[1],
    /offsets=2\.\.4 bytes=200 reason=size limit="350 bytes" log_start=4/,
  );

  // The group committed offset 1: offsets 1 to 3 are gone, and it says so.
  let read: StreamMessage[] = [];
  const warned = await captureLogs(async () => {
    read = await readAll(stream, "g");
  });
  assert.deepEqual(offsets(read), [4, 5, 6, 7, 8]);
  const [warning] = warned.filter((l) => l.includes("lost to retention"));
  assert.match(
    warning,
    /level=warn component=stream msg="offsets lost to retention" group=g partition=0 from=1 log_start=4 lost=3/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream: a consumer that falls behind retention while it runs skips to the log start with a warning", async () => {
  const dir = await Deno.makeTempDir();
  const { stream } = clocked(dir, {
    segmentBytes: 200,
    retentionBytes: 350,
    maxBatchMessages: 1,
  });
  await sendEach(stream, 2);
  const consumer = await stream.consumer("g");
  const seen: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const lines = await captureLogs(async () => {
    const running = consumer.run({
      async onBatch(batch) {
        seen.push(...offsets(batch.messages));
        if (seen.length === 1) await gate;
      },
      onRevoked: () => Promise.resolve(),
    });
    await until(() => seen.length === 1, { what: "the first message" });
    // While it holds offset 0, segments 0 and 2 are deleted.
    await sendEach(stream, 7);
    assert.deepEqual(await segmentNames(dir), [4, 6, 8].map(name));
    release();
    await until(() => seen.at(-1) === 8, { what: "offset 8" });
    await consumer.stop();
    await running;
  });
  // Offset 1 was still in the open segment; 2 and 3 are lost.
  assert.deepEqual(seen, [0, 1, 4, 5, 6, 7, 8]);
  assert.ok(
    lines.some((l) =>
      /msg="offsets lost to retention" group=g partition=0 from=2 log_start=4 lost=2/
        .test(l)
    ),
    lines.join("\n"),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream cuts a torn last line off the active segment, and a consumer tailing it reads the record written there instead", async () => {
  const dir = await Deno.makeTempDir();
  const { stream } = clocked(dir, { segmentBytes: 250 });
  await sendEach(stream, 5);
  const consumer = await stream.consumer("g");
  const seen: StreamMessage[] = [];
  const running = consumer.run({
    onBatch(batch) {
      seen.push(...batch.messages);
      return Promise.resolve();
    },
    onRevoked: () => Promise.resolve(),
  });
  await until(() => seen.length === 5, { what: "5 messages" });

  // A producer crashed mid-write: most of a record at the end of segment 4,
  // longer than the one written there next.
  const active = join(dir, TOPIC, "partition-0", name(4));
  await Deno.writeTextFile(
    active,
    recordLine(5, 1000, "K", "torn-torn-torn-torn").slice(0, 40),
    {
      append: true,
    },
  );
  // Let the consumer read the torn bytes before they are cut off.
  const reads = countReads();
  await until(() => reads.count >= 3, { what: "three more reads" });
  reads.restore();

  const producer = await stream.producer();
  assert.equal((await Deno.stat(active)).size, 100);
  await producer.send([{ key: "K", value: "after" }]);
  await producer.close();
  await until(() => seen.length === 6, { what: "6 messages" });
  await consumer.stop();
  await running;
  assert.deepEqual(
    seen.map((m) => [m.offset, m.value === VALUE ? "x" : m.value]),
    [
      [0, "x"],
      [1, "x"],
      [2, "x"],
      [3, "x"],
      [4, "x"],
      [5, "after"],
    ],
  );
  await Deno.remove(dir, { recursive: true });
});

/** Counts file reads from now on, until restored. */
function countReads(): { count: number; restore(): void } {
  const proto = Deno.FsFile.prototype;
  const original = proto.read;
  const counter = {
    count: 0,
    restore: () => (proto.read = original),
  };
  proto.read = function (this: Deno.FsFile, p: Uint8Array) {
    counter.count++;
    return original.call(this, p);
  };
  return counter;
}

Deno.test("EmbeddedStream reads a topic of the layout before segments, and its producer moves each log into place once", async () => {
  const dir = await Deno.makeTempDir();
  const topicDir = join(dir, TOPIC);
  await Deno.mkdir(join(topicDir, "offsets"), { recursive: true });
  await Deno.writeTextFile(
    join(topicDir, "topic.json"),
    JSON.stringify({ partitions: 2, id: crypto.randomUUID() }) + "\n",
  );
  // Partition 0: three records and a torn tail; partition 1 never written.
  const lines = [0, 1, 2].map((o) => recordLine(o, 1000, "K", `v${o}`));
  const legacy = join(topicDir, "partition-0.log");
  await Deno.writeTextFile(legacy, lines.join("") + '{"o":3,"ts":1,"k":"K"');
  // The group committed offset 1 with its byte position, as the code before did.
  await Deno.writeTextFile(
    join(topicDir, "offsets", "g.json"),
    JSON.stringify({ 0: { offset: 1, position: lines[0].length } }) + "\n",
  );
  const stream = new EmbeddedStream({
    dir,
    topic: TOPIC,
    pollIntervalMs: 5,
    now: () => 1000,
  });

  // Read as it is, before any producer opens it.
  const consumer = await stream.consumer("g");
  assert.deepEqual(await consumer.startOffsets(), [
    { partition: 0, offset: 0 },
    { partition: 1, offset: 0 },
  ]);
  assert.deepEqual(await consumer.endOffsets(), [
    { partition: 0, offset: 3 },
    { partition: 1, offset: 0 },
  ]);
  await consumer.stop();
  assert.deepEqual((await readAll(stream, "g")).map((m) => m.value), [
    "v1",
    "v2",
  ]);
  const [last] = await stream.lastMessages(2);
  assert.deepEqual(last.messages.map((m) => m.value), ["v1", "v2"]);

  // The producer moves it, cuts the torn tail, and continues its offsets.
  const producer = await stream.producer();
  await producer.send([{ key: "K", value: "v3" }]);
  await producer.close();
  await assert.rejects(() => Deno.stat(legacy), Deno.errors.NotFound);
  assert.equal(
    await Deno.readTextFile(join(topicDir, "partition-0", SEGMENT_0)),
    lines.join("") + recordLine(3, 1000, "K", "v3"),
  );
  assert.deepEqual((await readAll(stream, "g")).map((m) => m.value), [
    "v1",
    "v2",
    "v3",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream finishes a move cut short by a crash, and refuses two different files for one segment", async () => {
  const dir = await Deno.makeTempDir();
  const topicDir = join(dir, TOPIC);
  const stream = new EmbeddedStream({ dir, topic: TOPIC, partitions: 1 });
  await stream.ensureTopic();
  const legacy = join(topicDir, "partition-0.log");
  const segment = join(topicDir, "partition-0", SEGMENT_0);
  await Deno.writeTextFile(legacy, recordLine(0, 1000, "K", "a"));
  await Deno.mkdir(join(topicDir, "partition-0"));
  // Crashed between the link and the removal: both names, one file.
  await Deno.link(legacy, segment);
  let producer = await stream.producer();
  await producer.close();
  await assert.rejects(() => Deno.stat(legacy), Deno.errors.NotFound);
  assert.equal(await Deno.readTextFile(segment), recordLine(0, 1000, "K", "a"));

  await Deno.writeTextFile(legacy, recordLine(0, 1000, "K", "other"));
  await assert.rejects(
    () => stream.producer(),
    new Error(
      `Cannot move the embedded stream's ${legacy} to ${segment} as both exist and are different files: keep the one holding the partition's records and delete the other`,
    ),
  );
  // The refusal released the topic's lock.
  await Deno.remove(legacy);
  producer = await stream.producer();
  await producer.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream rejects retention limits that are not positive integers", () => {
  assert.throws(
    () => new EmbeddedStream({ dir: "x", topic: TOPIC, segmentBytes: 0 }),
    new RangeError(
      "Cannot open the embedded stream as 'segmentBytes' must be a positive integer: current value is 0",
    ),
  );
  assert.throws(
    () => new EmbeddedStream({ dir: "x", topic: TOPIC, retentionMs: 1.5 }),
    /'retentionMs' must be a positive integer: current value is 1.5/,
  );
});
