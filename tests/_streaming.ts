/**
 * What the tests on the real services share: a scenario per test (its own
 * topic, group and warehouse on the local Kafka and MinIO), reading the
 * bucket, loading and building, the group's committed offsets, and the
 * exactly-once check that ends with `deno task reconcile`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Admin, Kafka, logLevel } from "kafkajs";
import { muteKafkajsTimerWarning } from "../lib/stream/kafka/log.ts";
import { decodeLines } from "../lib/lake/ndjson.ts";
import { S3Lake } from "../lib/lake/s3.ts";
import type { Reconciliation } from "../lib/ops/reconcile.ts";
import { sleep } from "../lib/runtime/retry.ts";
import { type ServicesEnv, servicesUp } from "../dev/services.ts";
import { assertSuccess, count, run, type Spawned } from "./_helpers.ts";

/** A fresh topic, group and warehouse on the real services. */
export async function scenario(name: string) {
  const services = await servicesUp();
  const topic = `it-${name}-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: `${name}-` });
  const env: Record<string, string> = {
    ...services,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `${topic}-lake`,
    KAFKA_TRADES_TOPIC: `${topic}-trades`,
    KAFKA_TRADES_GROUP_ID: `${topic}-trades-lake`,
    DUCKDB_PATH: `${dir}/warehouse.duckdb`,
    STREAM_DIR: `${dir}/unused-stream`,
    LAKE_DIR: `${dir}/unused-lake`,
  };
  return { services, topic, dir, env, db: `${dir}/warehouse.duckdb` };
}

/** Every landed line under the topic's prefix in the bucket. */
export async function landedLines(services: ServicesEnv, topic: string) {
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

/** Loads the topic's lake objects and builds dbt; returns RAW and silver counts of quotes. */
export async function loadAndBuild(env: Record<string, string>, db: string) {
  assertSuccess(await run("loader.ts", [], env), "load");
  assertSuccess(await run("scripts/transform.ts", ["build"], env), "dbt build");
  return await rowCounts(db, "quotes");
}

/** One kind's rows in RAW, its distinct stream coordinates there, and its rows in silver. */
async function rowCounts(db: string, kind: "quotes" | "trades") {
  const raw = `raw.source_stock_${kind}`;
  return {
    raw: await count(db, `select count(*) from ${raw}`),
    rawDistinct: await count(
      db,
      `select count(distinct (stream_topic, stream_partition, stream_offset)) from ${raw}`,
    ),
    silver: await count(
      db,
      `select count(*) from silver.silver_clean_stock_${kind}`,
    ),
  };
}

/**
 * Asserts that the topic's `n` events landed in the bucket (distinct stream
 * coordinates), then were loaded into RAW and reached silver, each exactly once.
 */
export async function assertExactlyOnce(
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
  return { ...landed, report: await assertLoadedOnce(env, db, n) };
}

/**
 * Asserts that the `n` landed events load into RAW and reach silver, each
 * exactly once, and that reconcile agrees; returns its report.
 */
export async function assertLoadedOnce(
  env: Record<string, string>,
  db: string,
  n: number,
): Promise<Reconciliation> {
  assert.deepEqual(await loadAndBuild(env, db), {
    raw: n,
    rawDistinct: n,
    silver: n,
  });
  const report = await reconcileRun(env);
  assert.deepEqual(
    [report.totals.events, report.totals.lost, report.totals.duplicated],
    [n, 0, 0],
    "reconciled",
  );
  return report;
}

/**
 * Asserts that the scenario's `n` trades landed under its trades topic
 * (distinct coordinates), sit in RAW's trades table and in silver once each
 * (after a load and a build), and that `reconcile --kind trades` finds none
 * lost or duplicated; returns its report.
 */
export async function assertTradesOnce(
  { services, topic, env, db }: {
    services: ServicesEnv;
    topic: string;
    env: Record<string, string>;
    db: string;
  },
  n: number,
): Promise<Reconciliation> {
  const trades = `${topic}-trades`;
  assert.equal((await landedLines(services, trades)).distinct, n, "landed");
  assert.deepEqual(
    await rowCounts(db, "trades"),
    { raw: n, rawDistinct: n, silver: n },
    "RAW's and silver's trades",
  );
  const report = await reconcileRun(env, "trades");
  assert.deepEqual(
    [report.totals.events, report.totals.lost, report.totals.duplicated],
    [n, 0, 0],
    "trades reconciled",
  );
  return report;
}

/** Runs `deno task reconcile --kind K --json` on a scenario; it must exit 0. */
export async function reconcileRun(
  env: Record<string, string>,
  kind = "quotes",
): Promise<Reconciliation> {
  const result = await run(
    "scripts/reconcile.ts",
    ["--kind", kind, "--json"],
    env,
  );
  assert.equal(
    result.code,
    0,
    `reconcile:\n${result.stdout}\n${result.stderr}`,
  );
  return JSON.parse(result.stdout) as Reconciliation;
}

/**
 * Runs `work` (reads) with a kafkajs admin client on the local broker, then
 * disconnects it. A broker that has just started answers NOT_COORDINATOR and
 * the like until its coordinators are elected: such retriable errors are
 * tried again for up to 30 s.
 */
export async function withAdmin<T>(
  services: ServicesEnv,
  work: (admin: Admin) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + 30_000;
  muteKafkajsTimerWarning();
  for (;;) {
    const admin = new Kafka({
      brokers: [services.KAFKA_BROKERS],
      logLevel: logLevel.NOTHING,
    }).admin();
    try {
      await admin.connect();
      return await work(admin);
    } catch (error) {
      const retriable = (error as { retriable?: unknown }).retriable === true;
      if (!retriable || Date.now() >= deadline) throw error;
    } finally {
      await admin.disconnect();
    }
    await sleep(200);
  }
}

/**
 * The group's committed offsets, summed over partitions (Kafka's own view):
 * all of them, or those of `partitions`.
 */
export function committedTotal(
  services: ServicesEnv,
  topic: string,
  groupId: string,
  partitions?: number[],
): Promise<number> {
  return withAdmin(services, async (admin) => {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return 0; // not created yet
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets.partitions
      .filter((p) => partitions?.includes(p.partition) ?? true)
      .reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  });
}

/** Waits until the group has committed `n` events, failing after `timeoutMs`. */
export async function waitForCommitted(
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

/** Stops a running entry point with SIGTERM and waits for it. */
export async function stopGracefully(spawned: Spawned) {
  spawned.child.kill("SIGTERM");
  return await spawned.finished;
}
