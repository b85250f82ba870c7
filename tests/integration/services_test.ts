/**
 * The native services' set-up: clear errors when a tool is missing, reuse
 * of what is already running, and Kafka as a cluster of three nodes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { formatEnv, servicesSettings, servicesUp } from "../../dev/services.ts";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { userCache } from "../../dev/cache.ts";
import { portOpen } from "../../dev/services/daemon.ts";
import { startKafka, stopKafka } from "../../dev/services/kafka.ts";
import { startMinio } from "../../dev/services/minio.ts";
import { FatalError } from "../../lib/runtime/retry.ts";
import { KafkaStream } from "../../lib/stream/kafka/stream.ts";
import { until } from "../_wait.ts";

/** Runs `work` with PATH holding only the named programs (linked from the real PATH). */
async function withOnly<T>(
  programs: string[],
  work: () => Promise<T>,
): Promise<T> {
  const bin = await Deno.makeTempDir();
  for (const program of programs) {
    const found = new TextDecoder().decode(
      (await new Deno.Command("sh", {
        args: ["-c", `command -v ${program}`],
        stdout: "piped",
      }).output()).stdout,
    ).trim();
    await Deno.symlink(found, join(bin, program));
  }
  const path = Deno.env.get("PATH")!;
  Deno.env.set("PATH", bin);
  try {
    return await work();
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(bin, { recursive: true });
  }
}

async function scratch() {
  const root = await Deno.makeTempDir();
  return { root, cache: join(root, "cache") };
}

Deno.test("startKafka() says to install Java when java is missing", async () => {
  const { root, cache } = await scratch();
  await assert.rejects(
    () =>
      withOnly(
        ["setsid", "sh"],
        () => startKafka({ root, cache, port: 29092, controllerPort: 29093 }),
      ),
    new FatalError(
      "Cannot start Kafka as Java was not found: install a JDK or JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)",
    ),
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("startKafka() says to install Maven when Kafka's jars are not cached and mvn is missing", async () => {
  const { root, cache } = await scratch();
  await assert.rejects(
    () =>
      withOnly(
        ["setsid", "sh", "java"],
        () => startKafka({ root, cache, port: 29092, controllerPort: 29093 }),
      ),
    new FatalError(
      "Cannot fetch Kafka as Maven (mvn) was not found: install Maven 3 (Debian: apt-get install maven)",
    ),
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("startMinio() says to install Go when MinIO is not built and go is missing", async () => {
  const { root, cache } = await scratch();
  await assert.rejects(
    () =>
      withOnly(
        ["setsid", "sh"],
        () => startMinio({ root, cache, port: 29000, consolePort: 29001 }),
      ),
    /^FatalError: Cannot build MinIO as Go was not found: install Go/,
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test({
  name:
    "servicesUp() reuses the running services and writes the same variables to services.env",
  sanitizeResources: false,
  async fn() {
    const first = await servicesUp();
    const second = await servicesUp();
    assert.deepEqual(second, first);
    assert.deepEqual(Object.keys(first), [
      "KAFKA_BROKERS",
      "S3_ENDPOINT",
      "S3_BUCKET",
      "S3_REGION",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
    ]);
    assert.equal(
      await Deno.readTextFile(servicesSettings().envFile),
      formatEnv(first),
    );
    assert.equal(
      (await Deno.stat(servicesSettings().envFile)).mode! & 0o777,
      0o600,
    );
  },
});

Deno.test({
  name:
    "startKafka() with three nodes runs a cluster whose topics have three replicas and min.insync.replicas 2, and after a node is killed starts only that node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir();
    const options = {
      root,
      cache: userCache(),
      port: 29192,
      controllerPort: 29193,
      nodes: 3,
    };
    try {
      const cluster = await startKafka(options);
      assert.equal(
        cluster.brokers,
        "127.0.0.1:29192,127.0.0.1:29194,127.0.0.1:29196",
      );
      assert.deepEqual(cluster.started, [1, 2, 3]);
      const brokers = cluster.brokers.split(",");
      // Five replicas asked for: three, one per broker.
      const stream = new KafkaStream({
        brokers,
        topic: "cluster-replicated",
        replicationFactor: 5,
      });
      await stream.ensureTopic();
      const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      try {
        assert.equal((await admin.describeCluster()).brokers.length, 3);
        const [topic] = (await admin.fetchTopicMetadata({
          topics: ["cluster-replicated"],
        })).topics;
        assert.equal(topic.partitions.length, 3);
        for (const partition of topic.partitions) {
          assert.equal(partition.replicas.length, 3);
        }
        const [config] = (await admin.describeConfigs({
          resources: [{
            type: ConfigResourceTypes.TOPIC,
            name: "cluster-replicated",
            configNames: ["min.insync.replicas"],
          }],
          includeSynonyms: false,
        })).resources;
        assert.equal(config.configEntries[0].configValue, "2");
      } finally {
        await admin.disconnect();
      }

      // Node 2 dies; starting the services again starts it alone.
      Deno.kill(cluster.pids[1], "SIGKILL");
      await until(async () => !(await portOpen(29194)), {
        what: "node 2's port to close",
      });
      const again = await startKafka(options);
      assert.deepEqual(again.started, [2]);
      assert.equal(again.pids[0], cluster.pids[0]);
      assert.equal(again.pids[2], cluster.pids[2]);
      assert.notEqual(again.pids[1], cluster.pids[1]);
    } finally {
      assert.equal(await stopKafka(root), true);
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("servicesSettings() reads SERVICES_KAFKA_BROKERS: one node by default, and a clear error for a bad count", () => {
  assert.equal(servicesSettings({}).kafkaNodes, 1);
  assert.equal(servicesSettings({ SERVICES_KAFKA_BROKERS: "3" }).kafkaNodes, 3);
  for (const bad of ["0", "three", "10", "2.5"]) {
    assert.throws(
      () => servicesSettings({ SERVICES_KAFKA_BROKERS: bad }),
      {
        name: "RangeError",
        message:
          `Cannot start the services as 'SERVICES_KAFKA_BROKERS' must be an integer from 1 to 9: current value is "${bad}"`,
      },
    );
  }
});
