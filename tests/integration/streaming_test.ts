/**
 * The streaming path on real services: Apache Kafka (KRaft) and MinIO, started
 * natively by `servicesUp()` (the same as `deno task services:up`). These
 * tests fail, never skip, when a service cannot start. The fault-injection
 * suite on the same services is tests/faults/faults_test.ts.
 *
 * Each test uses a topic of its own (which is also its lake prefix), so tests
 * never see each other's events.
 */
import assert from "node:assert/strict";
import { partitionFor } from "../../lib/stream/partitioner.ts";
import { KafkaStream } from "../../lib/stream/kafka/stream.ts";
import { toolVenv, userCache } from "../../dev/cache.ts";
import { kafkaLibs } from "../../dev/services/kafka.ts";
import { ensureVenv } from "../../lib/transform/venv.ts";
import { join } from "node:path";
import {
  assertSuccess,
  ROOT,
  run,
  spawn,
  SYMBOLS,
  watch,
  withWarehouse,
} from "../_helpers.ts";
import {
  assertExactlyOnce,
  committedTotal,
  landedLines,
  scenario,
  waitForCommitted,
  withAdmin,
} from "../_streaming.ts";
import { until } from "../_wait.ts";

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
    "(a') N trades produced on real Kafka and MinIO land on the trades topic and reach RAW's trades table and silver exactly once, beside the quotes",
  sanitizeResources: false,
  async fn() {
    const { env, db, dir, topic } = await scenario("a-trades");
    const trades = 3_000;
    const quotes = 200;
    assertSuccess(
      await run("producer.ts", [
        "--source",
        "simulated-trades",
        "--count",
        String(trades),
        "--rate",
        "100000",
      ], env),
      "produce trades",
    );
    assertSuccess(
      await run(
        "producer.ts",
        ["--count", String(quotes), "--rate", "100000"],
        env,
      ),
      "produce quotes",
    );
    const consumed = await run("consumer.ts", ["--drain"], env);
    assertSuccess(consumed, "consume");
    assert.match(
      consumed.stderr,
      new RegExp(
        `msg="consumer finished" consumed=${trades} events=${trades} deadLetters=0 .*kind=trades`,
      ),
    );
    assertSuccess(await run("loader.ts", [], env), "load");
    await withWarehouse(db, async (query) => {
      assert.deepEqual(
        await query(
          `select count(*), count(distinct (stream_partition, stream_offset)), min(stream_topic), max(stream_topic)
           from raw.source_stock_trades`,
        ),
        [[
          BigInt(trades),
          BigInt(trades),
          `${topic}-trades`,
          `${topic}-trades`,
        ]],
      );
      assert.deepEqual(
        await query("select count(*) from raw.source_stock_quotes"),
        [[BigInt(quotes)]],
      );
    });
    assertSuccess(
      await run("scripts/transform.ts", ["build"], env),
      "dbt build",
    );
    const reconciled = await run(
      "scripts/reconcile.ts",
      ["--kind", "trades", "--json"],
      env,
    );
    assertSuccess(reconciled, "reconcile --kind trades");
    const report = JSON.parse(reconciled.stdout);
    assert.deepEqual(report.silver, {
      rows: trades,
      quarantined: 0,
      lost: 0,
      duplicated: 0,
    });
    assert.deepEqual(
      [
        report.topic,
        report.totals.events,
        report.totals.lost,
        report.totals.duplicated,
      ],
      [`${topic}-trades`, trades, 0, 0],
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "two live consumers in one group split the partitions, and the survivor takes them all back when one dies, without loss",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("rebalance");
    const n = 2_000;
    const group = `${topic}-lake`;
    const consumerEnv = { ...env, FLUSH_MAX_AGE_MS: "500" };
    const assigned =
      /msg="partitions assigned".* partitions=\[([0-9][0-9,]*)\]/;
    const share = (line: string) =>
      assigned.exec(line)![1].split(",").map(Number);
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "200",
    ], env);
    const first = watch("consumer.ts", [], consumerEnv);
    assert.deepEqual(share(await first.lines.until(assigned, 60_000)), [
      0,
      1,
      2,
    ]);
    // The first consumer has committed something.
    await waitForCommitted(services, topic, group, 1, 60_000);

    // A second member joins: the first hands its partitions back, and the
    // group splits them between the two live members.
    const second = watch("consumer.ts", [], consumerEnv);
    const secondShare = share(await second.lines.until(assigned, 60_000));
    await first.lines.until(
      /msg="revoking partitions" reason=(rebalance|rejoin) .*partitions=\[0,1,2\]/,
      60_000,
    );
    const firstShare = share(await first.lines.until(assigned, 60_000));
    assert.deepEqual(
      [...firstShare, ...secondShare].sort(),
      [0, 1, 2],
      `the shares ${firstShare} and ${secondShare} split the topic`,
    );
    // The second member lands and commits its own share.
    const committedAt = (partitions: number[]) =>
      committedTotal(services, topic, group, partitions);
    const before = await committedAt(secondShare);
    await until(async () => await committedAt(secondShare) > before, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: `a commit by the second member on partitions ${secondShare}`,
    });

    // The first dies: once its session expires, the survivor holds all three.
    first.child.kill("SIGKILL");
    await first.child.status;
    await second.lines.until(
      /msg="partitions assigned".* partitions=\[0,1,2\]/,
      60_000,
    );

    assertSuccess(await producer.finished, "produce");
    await waitForCommitted(services, topic, group, n, 90_000);
    second.child.kill("SIGTERM");
    const drained = second.lines.drain();
    assert.equal((await second.child.status).code, 0);
    await drained;

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
    const aws = toolVenv("awscli");
    await ensureVenv(aws, join(ROOT, "requirements-awscli.txt"));
    const output = await new Deno.Command(join(aws, "bin", "aws"), {
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
          `^${topic}/dt=\\d{4}-\\d{2}-\\d{2}/partition=\\d/${topic}\\+[0-9a-f]{8}\\+\\d\\+\\d{20}\\+\\d{20}\\.ndjson\\.gz$`,
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
    // SIGTERM once the topic holds some of what it published.
    await until(async () => {
      const offsets = await withAdmin(
        services,
        async (admin) =>
          (await admin.listTopics()).includes(topic)
            ? await admin.fetchTopicOffsets(topic)
            : [],
      );
      return offsets.reduce((n, p) => n + Number(p.high), 0) > 0;
    }, { timeoutMs: 60_000, intervalMs: 200, what: "published events" });
    producer.child.kill("SIGTERM");
    const result = await producer.finished;
    assert.equal(result.code, 0, result.stderr);
    const published = Number(
      /msg="producer finished" published=(\d+)/.exec(result.stderr)?.[1],
    );
    assert.ok(published > 0, result.stderr);

    const offsets = await withAdmin(
      services,
      (admin) => admin.fetchTopicOffsets(topic),
    );
    assert.equal(offsets.length, 3);
    assert.equal(
      offsets.reduce((n, p) => n + Number(p.high), 0),
      published,
      "every acknowledged event is in the topic",
    );
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

Deno.test({
  name:
    "KafkaStream.lastMessages() reads each partition's last messages through a group it deletes after, and none of a missing topic",
  sanitizeResources: false,
  async fn() {
    const { services, topic, dir } = await scenario("tail");
    const stream = new KafkaStream({
      brokers: [services.KAFKA_BROKERS],
      topic,
      clientId: "tail-test",
    });
    assert.deepEqual(await stream.lastMessages(3), [], "no topic yet");
    await stream.ensureTopic();
    const producer = await stream.producer();
    const sent: { key: string; value: string }[] = [];
    for (let round = 0; round < 40; round++) {
      const messages = SYMBOLS.map((key) => ({
        key,
        value: `${key}-${round}`,
      }));
      await producer.send(messages);
      sent.push(...messages);
    }
    await producer.close();

    for (const count of [1, 7, 500]) {
      const batches = await stream.lastMessages(count);
      assert.deepEqual(batches.map((b) => b.partition), [0, 1, 2]);
      for (const batch of batches) {
        const inPartition = sent.filter((m) =>
          partitionFor(m.key, 3) === batch.partition
        );
        const expected = inPartition.slice(-count);
        assert.deepEqual(
          batch.messages.map((m) => [m.offset, m.key, m.value]),
          expected.map((m) => [
            inPartition.indexOf(m),
            m.key,
            m.value,
          ]),
          `partition ${batch.partition}, count ${count}`,
        );
      }
    }
    const groups = await withAdmin(services, (admin) => admin.listGroups());
    assert.deepEqual(
      groups.groups.filter((g) => g.groupId.startsWith("tail-test-tail-")),
      [],
      "the reader's groups are deleted",
    );
    await Deno.remove(dir, { recursive: true });
  },
});
