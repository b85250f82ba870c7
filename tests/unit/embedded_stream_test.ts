import assert from "node:assert/strict";
import { join } from "node:path";
import { partitionFor } from "../../lib/stream/partitioner.ts";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";
import { readAll } from "../_embedded.ts";
import { until } from "../_wait.ts";

function stream(dir: string, partitions = 3) {
  return new EmbeddedStream({
    dir,
    topic: "stock-quotes",
    partitions,
    pollIntervalMs: 10,
  });
}

Deno.test("EmbeddedStream keys each symbol to Kafka's default partition, offsets from 0", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir);
  const producer = await s.producer();
  const symbols = ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"];
  await producer.send(
    symbols.flatMap((key) =>
      [1, 2].map((n) => ({ key, value: `${key}-${n}` }))
    ),
  );
  await producer.close();

  const messages = await readAll(s, "g");
  assert.equal(messages.length, 10);
  for (const m of messages) assert.equal(m.partition, partitionFor(m.key!, 3));
  for (let p = 0; p < 3; p++) {
    const offsets = messages.filter((m) => m.partition === p).map((m) =>
      m.offset
    );
    assert.deepEqual(offsets, offsets.map((_, i) => i));
  }
  // Order per key is kept.
  for (const key of symbols) {
    assert.deepEqual(
      messages.filter((m) => m.key === key).map((m) => m.value),
      [
        `${key}-1`,
        `${key}-2`,
      ],
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream continues offsets across producers, so a later run never reuses them", async () => {
  const dir = await Deno.makeTempDir();
  for (let run = 0; run < 3; run++) {
    const producer = await stream(dir, 1).producer();
    await producer.send([{ key: "AAPL", value: `run-${run}` }]);
    await producer.close();
  }
  const messages = await readAll(stream(dir, 1), "g");
  assert.deepEqual(messages.map((m) => [m.offset, m.value]), [[0, "run-0"], [
    1,
    "run-1",
  ], [
    2,
    "run-2",
  ]]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream keeps the partition count the topic was created with", async () => {
  const dir = await Deno.makeTempDir();
  await stream(dir, 2).ensureTopic();
  const consumer = await stream(dir, 5).consumer("g");
  assert.equal((await consumer.endOffsets()).length, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream resumes a group from its committed offset", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir, 1);
  const producer = await s.producer();
  await producer.send(
    Array.from({ length: 5 }, (_, i) => ({ key: "AAPL", value: `v${i}` })),
  );

  const first = await s.consumer("g");
  const got: number[] = [];
  const running = first.run({
    async onBatch(batch) {
      got.push(...batch.messages.map((m) => m.offset));
      await first.commit([{ partition: 0, offset: 3 }]);
    },
    onRevoked: () => Promise.resolve(),
  });
  await until(() => got.length >= 5, { what: "5 messages" });
  await first.stop();
  await running;
  assert.deepEqual(await first.committedOffsets(), [{
    partition: 0,
    offset: 3,
  }]);

  await producer.send([{ key: "AAPL", value: "v5" }]);
  await producer.close();
  const rest = await readAll(s, "g");
  assert.deepEqual(rest.map((m) => m.value), ["v3", "v4", "v5"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream resumes from an offset committed without a byte position", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir, 1);
  const producer = await s.producer();
  await producer.send(
    Array.from({ length: 4 }, (_, i) => ({ key: "K", value: `v${i}` })),
  );
  await producer.close();
  await Deno.writeTextFile(
    join(dir, "stock-quotes", "offsets", "g.json"),
    JSON.stringify({ 0: { offset: 2 } }),
  );
  assert.deepEqual((await readAll(s, "g")).map((m) => m.value), ["v2", "v3"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream drops a torn last line left by a crashed producer", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir, 1);
  let producer = await s.producer();
  await producer.send([{ key: "K", value: "a" }, { key: "K", value: "b" }]);
  await producer.close();
  const log = join(
    dir,
    "stock-quotes",
    "partition-0",
    "00000000000000000000.log",
  );
  await Deno.writeTextFile(log, '{"o":2,"ts":1,"k":"K","v":"tor', {
    append: true,
  });

  producer = await s.producer();
  await producer.send([{ key: "K", value: "c" }]);
  await producer.close();
  assert.deepEqual((await readAll(s, "g")).map((m) => [m.offset, m.value]), [
    [0, "a"],
    [1, "b"],
    [
      2,
      "c",
    ],
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream allows one producer at a time", async () => {
  const dir = await Deno.makeTempDir();
  const first = await stream(dir).producer();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { EmbeddedStream } from "${new URL(
        "../../lib/stream/embedded/stream.ts",
        import.meta.url,
      )}";
       await new EmbeddedStream({ dir: ${
        JSON.stringify(dir)
      }, topic: "stock-quotes" }).producer();`,
    ],
    stderr: "piped",
  });
  const { success, stderr } = await child.output();
  assert.equal(success, false);
  assert.match(
    new TextDecoder().decode(stderr),
    /another process is producing/,
  );
  await first.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream rejects unsafe topic and group names", async () => {
  assert.throws(
    () => new EmbeddedStream({ dir: "x", topic: "../etc" }),
    /Cannot use the embedded stream as 'topic' must match/,
  );
  const dir = await Deno.makeTempDir();
  await assert.rejects(() => stream(dir).consumer("a/b"), RangeError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream keeps its identity across runs and gets a new one when recreated", async () => {
  const dir = await Deno.makeTempDir();
  const first = await stream(dir).identity();
  assert.match(first, /^embedded:[0-9a-f-]{36}$/);
  assert.equal(await stream(dir).identity(), first);
  await Deno.remove(join(dir, "stock-quotes"), { recursive: true });
  assert.notEqual(await stream(dir).identity(), first);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream.lastMessages() gives each partition's last messages, offsets ascending", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir);
  assert.deepEqual(await s.lastMessages(5), [], "no topic yet: no messages");
  const producer = await s.producer();
  const symbols = ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"];
  // 200 rounds, with values long enough that the tail spans several read chunks.
  for (let round = 0; round < 200; round++) {
    await producer.send(
      symbols.map((key) => ({
        key,
        value: `${key}-${round}-${"x".repeat(400)}`,
      })),
    );
  }
  await producer.close();

  const all = await readAll(s, "g");
  for (const count of [1, 7, 250, 10_000]) {
    const batches = await s.lastMessages(count);
    assert.deepEqual(batches.map((b) => b.partition), [0, 1, 2]);
    for (const batch of batches) {
      const expected = all.filter((m) => m.partition === batch.partition)
        .slice(-count);
      assert.deepEqual(batch.messages, expected, `count ${count}`);
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream.lastMessages() leaves out a torn last line and rejects a count that is not a positive integer", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir, 1);
  const producer = await s.producer();
  await producer.send([{ key: "K", value: "a" }, { key: "K", value: "b" }]);
  await producer.close();
  await Deno.writeTextFile(
    join(dir, "stock-quotes", "partition-0", "00000000000000000000.log"),
    '{"o":2,"ts":1,"k":"K","v":"tor',
    { append: true },
  );
  const [batch] = await s.lastMessages(2);
  assert.deepEqual(batch.messages.map((m) => [m.offset, m.value]), [
    [0, "a"],
    [1, "b"],
  ]);
  await assert.rejects(
    () => s.lastMessages(0),
    new RangeError(
      "Cannot read the stream's last messages as 'count' must be a positive integer: current value is 0",
    ),
  );
  await Deno.remove(dir, { recursive: true });
});
