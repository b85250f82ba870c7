/**
 * The streaming path on real services: Apache Kafka (KRaft) and MinIO, started
 * natively by `servicesUp()` (the same as `deno task services:up`). These
 * tests fail, never skip, when a service cannot start.
 *
 * Each test uses a topic of its own (which is also its lake prefix), so tests
 * never see each other's events.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { decodeLines } from "../lib/lake.ts";
import { S3Lake } from "../lib/lake/s3.ts";
import { partitionFor } from "../lib/partitioner.ts";
import { SERVICES_DIR, type ServicesEnv, servicesUp } from "../lib/services.ts";
import { userCache } from "../lib/tool.ts";
import { kafkaLibs } from "../lib/services/kafka.ts";
import { startMinio, stopMinio } from "../lib/services/minio.ts";
import { venvBin } from "../lib/python.ts";
import { sleep } from "../lib/retry.ts";
import {
  assertSuccess,
  count,
  ROOT,
  run,
  spawn,
  type Spawned,
  SYMBOLS,
  withWarehouse,
} from "./_helpers.ts";

/** A fresh topic, group and warehouse on the real services. */
async function scenario(name: string) {
  const services = await servicesUp();
  const topic = `it-${name}-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: `${name}-` });
  const env: Record<string, string> = {
    ...services,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `${topic}-lake`,
    DUCKDB_PATH: `${dir}/warehouse.duckdb`,
    STREAM_DIR: `${dir}/unused-stream`,
    LAKE_DIR: `${dir}/unused-lake`,
  };
  return { services, topic, dir, env, db: `${dir}/warehouse.duckdb` };
}

/** Every landed line under the topic's prefix in the bucket. */
async function landedLines(services: ServicesEnv, topic: string) {
  const lake = new S3Lake({
    bucket: services.S3_BUCKET,
    endpoint: services.S3_ENDPOINT,
    accessKeyId: services.AWS_ACCESS_KEY_ID,
    secretAccessKey: services.AWS_SECRET_ACCESS_KEY,
  });
  try {
    const lines: {
      symbol: string;
      _stream: { partition: number; offset: number };
    }[] = [];
    let objects = 0;
    for await (const object of lake.list(`${topic}/`)) {
      objects++;
      for (const line of await decodeLines(await lake.get(object.key))) {
        lines.push(JSON.parse(line));
      }
    }
    const coordinates = new Set(
      lines.map((l) => `${l._stream.partition}:${l._stream.offset}`),
    );
    return { lines, objects, distinct: coordinates.size };
  } finally {
    lake.close();
  }
}

/** Loads the topic's lake objects and builds dbt; returns RAW and silver counts. */
async function loadAndBuild(env: Record<string, string>, db: string) {
  assertSuccess(await run("loader.ts", [], env), "load");
  assertSuccess(await run("scripts/transform.ts", ["build"], env), "dbt build");
  return {
    raw: await count(db, "select count(*) from raw.source_stock_quotes"),
    rawDistinct: await count(
      db,
      "select count(distinct (stream_topic, stream_partition, stream_offset)) from raw.source_stock_quotes",
    ),
    silver: await count(
      db,
      "select count(*) from silver.silver_clean_stock_quotes",
    ),
  };
}

/**
 * Asserts that the topic's `n` events landed in the bucket (distinct stream
 * coordinates), then were loaded into RAW and reached silver, each exactly once.
 */
async function assertExactlyOnce(
  { services, topic, env, db }: {
    services: ServicesEnv;
    topic: string;
    env: Record<string, string>;
    db: string;
  },
  n: number,
) {
  const landed = await landedLines(services, topic);
  assert.equal(landed.distinct, n, "every event landed");
  assert.deepEqual(await loadAndBuild(env, db), {
    raw: n,
    rawDistinct: n,
    silver: n,
  });
  return landed;
}

/** The group's committed offsets, summed over partitions (Kafka's own view). */
async function committedTotal(
  services: ServicesEnv,
  topic: string,
  groupId: string,
): Promise<number> {
  const admin = new Kafka({
    brokers: [services.KAFKA_BROKERS],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return 0; // not created yet
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets.partitions.reduce(
      (n, p) => n + Math.max(0, Number(p.offset)),
      0,
    );
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group has committed `n` events, failing after `timeoutMs`. */
async function waitForCommitted(
  services: ServicesEnv,
  topic: string,
  groupId: string,
  n: number,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  let committed = 0;
  while ((committed = await committedTotal(services, topic, groupId)) < n) {
    assert.ok(
      Date.now() < deadline,
      `only ${committed} of ${n} events committed after ${timeoutMs} ms`,
    );
    await sleep(500);
  }
}

async function stopGracefully(spawned: Spawned) {
  spawned.child.kill("SIGTERM");
  return await spawned.finished;
}

Deno.test({
  name:
    "(a) N events produced on real Kafka and MinIO are exactly N landed, loaded and in silver",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("a");
    const n = 2_000;
    assertSuccess(
      await run("producer.ts", ["--count", String(n), "--rate", "100000"], env),
      "produce",
    );
    const consumed = await run("consumer.ts", ["--drain"], env);
    assertSuccess(consumed, "consume");
    assert.match(
      consumed.stderr,
      new RegExp(
        `msg="consumer finished" consumed=${n} events=${n} deadLetters=0`,
      ),
    );

    const landed = await assertExactlyOnce({ services, topic, env, db }, n);
    assert.equal(landed.lines.length, n);
    for (const line of landed.lines) {
      assert.equal(
        line._stream.partition,
        partitionFor(line.symbol, 3),
        `${line.symbol} left its partition`,
      );
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(b) SIGKILL of the consumer mid-batch, five times, loses and duplicates nothing downstream",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("b");
    const n = 3_000;
    // Small, slow batches so every kill lands mid-batch: open buffers and uncommitted objects.
    const consumerEnv = {
      ...env,
      FLUSH_MAX_EVENTS: "150",
      FLUSH_MAX_AGE_MS: "700",
    };
    const group = `${topic}-lake`;
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "40",
    ], env);
    for (let kill = 0; kill < 5; kill++) {
      // Kill only once this consumer has landed and committed something, then
      // within the next batch window: its open batches and uploads die with it.
      const before = await committedTotal(services, topic, group);
      const consumer = spawn("consumer.ts", [], consumerEnv);
      const deadline = Date.now() + 30_000;
      while (
        await committedTotal(services, topic, group) <= before &&
        Date.now() < deadline
      ) {
        await sleep(100);
      }
      assert.ok(
        Date.now() < deadline,
        `consumer ${kill + 1} committed nothing in 30 s`,
      );
      await sleep(200 + Math.floor(Math.random() * 500));
      consumer.child.kill("SIGKILL");
      await consumer.finished;
    }
    assertSuccess(await producer.finished, "produce");
    const drained = await run("consumer.ts", ["--drain"], consumerEnv);
    assertSuccess(drained, "final consume");

    const landed = await assertExactlyOnce({ services, topic, env, db }, n);
    assert.ok(landed.lines.length >= n);
    console.log(
      `    (b) ${
        landed.lines.length - n
      } duplicate lines in ${landed.objects} objects after 5 kills`,
    );
    assert.equal(await committedTotal(services, topic, group), n);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(c) with MinIO down for 20 s mid-stream, the consumer retries, commits nothing meanwhile, and catches up",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("c");
    const n = 1_500;
    const group = `${topic}-lake`;
    const consumer = spawn("consumer.ts", [], {
      ...env,
      FLUSH_MAX_AGE_MS: "500",
    });
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "50",
    ], env);
    await sleep(4_000);
    let outage = 0;
    try {
      await stopMinio(SERVICES_DIR);
      const started = Date.now();
      await sleep(3_000); // let in-flight writes fail and the last commit settle
      const frozen = await committedTotal(services, topic, group);
      while (Date.now() - started < 20_000) await sleep(500);
      assert.equal(
        await committedTotal(services, topic, group),
        frozen,
        "committed while the store was down",
      );
      outage = Date.now() - started;
    } finally {
      await startMinio({ root: SERVICES_DIR, cache: userCache() });
    }
    assertSuccess(await producer.finished, "produce");
    await waitForCommitted(services, topic, group, n, 60_000);
    const stopped = await stopGracefully(consumer);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(
      stopped.stderr,
      /landing failed; retrying, nothing committed meanwhile/,
    );
    assert.ok(outage >= 20_000);

    await assertExactlyOnce({ services, topic, env, db }, n);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "two consumers in one group share the partitions; losing one rebalances without loss",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("rebalance");
    const n = 2_000;
    const consumerEnv = { ...env, FLUSH_MAX_AGE_MS: "500" };
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "200",
    ], env);
    const first = spawn("consumer.ts", [], consumerEnv);
    await sleep(2_000);
    const second = spawn("consumer.ts", [], consumerEnv);
    await sleep(4_000);
    first.child.kill("SIGKILL");
    assertSuccess(await producer.finished, "produce");
    await waitForCommitted(services, topic, `${topic}-lake`, n, 90_000);
    const survivor = await stopGracefully(second);
    assert.equal(survivor.code, 0, survivor.stderr);
    assert.match(survivor.stderr, /msg="revoking partitions"/);

    await assertExactlyOnce({ services, topic, env, db }, n);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "Kafka's own console consumer reads our keys, each symbol in its murmur2 partition",
  sanitizeResources: false,
  async fn() {
    const { topic, env } = await scenario("console");
    const n = 100;
    assertSuccess(
      await run("producer.ts", ["--count", String(n), "--rate", "100000"], env),
      "produce",
    );
    const output = await new Deno.Command("java", {
      args: [
        "-cp",
        `${kafkaLibs(userCache())}/*`,
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server",
        env.KAFKA_BROKERS,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        String(n),
        "--timeout-ms",
        "20000",
        "--property",
        "print.partition=true",
        "--property",
        "print.key=true",
        "--property",
        "key.separator=|",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    const records = text.trim().split("\n").filter((l) =>
      l.startsWith("Partition:")
    );
    assert.equal(records.length, n, new TextDecoder().decode(output.stderr));
    const seen = new Set<string>();
    for (const record of records) {
      const [partition, key, value] = record.split("|");
      const event = JSON.parse(value);
      assert.equal(event.symbol, key);
      assert.equal(
        Number(partition.replace(/^Partition:/, "")),
        partitionFor(key, 3),
      );
      seen.add(key);
    }
    assert.deepEqual([...seen].sort(), [...SYMBOLS].sort());
  },
});

Deno.test({
  name:
    "the AWS CLI lists the same objects in the private bucket that the consumer wrote",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env } = await scenario("awscli");
    assertSuccess(
      await run("producer.ts", ["--count", "50", "--rate", "100000"], env),
      "produce",
    );
    assertSuccess(await run("consumer.ts", ["--drain"], env), "consume");
    const output = await new Deno.Command(venvBin("aws"), {
      args: [
        "--endpoint-url",
        services.S3_ENDPOINT,
        "s3api",
        "list-objects-v2",
        "--bucket",
        services.S3_BUCKET,
        "--prefix",
        `${topic}/`,
        "--output",
        "json",
      ],
      env: {
        AWS_ACCESS_KEY_ID: services.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: services.AWS_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION: services.S3_REGION,
      },
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const listed = JSON.parse(new TextDecoder().decode(output.stdout));
    const keys: string[] = listed.Contents.map((o: { Key: string }) => o.Key);
    const ours = await landedLines(services, topic);
    assert.equal(keys.length, ours.objects);
    for (const key of keys) {
      assert.match(
        key,
        new RegExp(
          `^${topic}/symbol=[A-Z]+/date=\\d{4}-\\d{2}-\\d{2}/${topic}\\+[0-9a-f]{8}\\+\\d\\+\\d{20}\\+\\d{20}\\.ndjson\\.gz$`,
        ),
      );
    }
    // Without credentials the bucket answers 403.
    const anonymous = await fetch(
      `${services.S3_ENDPOINT}/${services.S3_BUCKET}/${keys[0]}`,
    );
    await anonymous.body?.cancel();
    assert.equal(anonymous.status, 403);
  },
});

Deno.test({
  name:
    "the producer creates the topic with 3 partitions and, on SIGTERM, flushes what it read before exiting 0",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env } = await scenario("sigterm");
    const producer = spawn("producer.ts", ["--rate", "500"], env);
    await sleep(4_000);
    producer.child.kill("SIGTERM");
    const result = await producer.finished;
    assert.equal(result.code, 0, result.stderr);
    const published = Number(
      /msg="producer finished" published=(\d+)/.exec(result.stderr)?.[1],
    );
    assert.ok(published > 0, result.stderr);

    const admin = new Kafka({
      brokers: [services.KAFKA_BROKERS],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      assert.equal(offsets.length, 3);
      assert.equal(
        offsets.reduce((n, p) => n + Number(p.high), 0),
        published,
        "every acknowledged event is in the topic",
      );
    } finally {
      await admin.disconnect();
    }
  },
});

Deno.test({
  name:
    "an embedded run and a Kafka run into one warehouse keep every event, though their offsets overlap",
  sanitizeResources: false,
  async fn() {
    const { env, db, dir } = await scenario("two-logs");
    const embedded = {
      ...env,
      KAFKA_BROKERS: "",
      S3_BUCKET: "",
      STREAM_DIR: `${dir}/stream`,
      LAKE_DIR: `${dir}/lake`,
    };
    assertSuccess(
      await run("demo.ts", ["--count", "40", "--rate", "100000"], embedded),
      "embedded demo",
    );
    assertSuccess(
      await run("demo.ts", ["--count", "40", "--rate", "100000"], env),
      "Kafka demo",
    );
    assert.deepEqual(
      await withWarehouse(db, (query) =>
        query(
          "select split_part(stream_id, ':', 1), count(*)::integer, min(stream_offset)::integer from raw.source_stock_quotes group by 1 order by 1",
        )),
      [["embedded", 40, 0], ["kafka", 40, 0]],
    );
    await Deno.remove(dir, { recursive: true });
  },
});
