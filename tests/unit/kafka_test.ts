import assert from "node:assert/strict";
import { type KafkaMessage, logLevel, Partitioners } from "kafkajs";
import {
  consumerConfig,
  parseBrokers,
  producerConfig,
  topicReplication,
} from "../../lib/stream/kafka/config.ts";
import { classifyKafkaError } from "../../lib/stream/kafka/errors.ts";
import { kafkaLogCreator } from "../../lib/stream/kafka/log.ts";
import {
  fromKafkaBatch,
  toKafkaMessages,
  toNumber,
} from "../../lib/stream/kafka/messages.ts";
import { KafkaStream } from "../../lib/stream/kafka/stream.ts";
import type { StreamMessage } from "../../lib/stream/stream.ts";
import { partitionFor } from "../../lib/stream/partitioner.ts";
import { logger, setLogSink } from "../../lib/runtime/log.ts";
import { RetriableError } from "../../lib/runtime/retry.ts";

// Kafka's Java `Utils.murmur2` test vectors (UtilsTest#testMurmur2).
const MURMUR2_VECTORS: [string, number][] = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
];

/** The Java client's partition for a keyed record: `toPositive(murmur2) % n`. */
const javaPartition = (hash: number, partitions: number) =>
  (hash & 0x7fffffff) % partitions;

/** A port on 127.0.0.1 that nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function kafkaMessage(
  offset: string,
  key: string | null,
  value: string | null,
  timestamp = "1700000000000",
): KafkaMessage {
  const bytes = (text: string | null) =>
    text === null ? null : Buffer.from(text, "utf8");
  return {
    key: bytes(key),
    value: bytes(value),
    timestamp,
    attributes: 0,
    offset,
    headers: {},
  };
}

Deno.test("partitionFor() matches Kafka's Java murmur2 test vectors for every partition count", () => {
  for (const [key, hash] of MURMUR2_VECTORS) {
    for (let partitions = 1; partitions <= 64; partitions++) {
      assert.equal(
        partitionFor(key, partitions),
        javaPartition(hash, partitions),
        `key ${key}, ${partitions} partitions`,
      );
    }
  }
});

Deno.test("partitionFor() agrees with the partitioner the Kafka producer is configured with", () => {
  const configured = producerConfig().createPartitioner!();
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  for (const key of ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN", "BRK.B", "ÄÖÜ"]) {
    assert.equal(
      partitionFor(key, 3),
      configured({
        topic: "stock-quotes",
        partitionMetadata,
        message: { key, value: "{}" },
      }),
    );
  }
});

Deno.test("partitionFor() is stable and spreads keys over every partition", () => {
  const counts = [0, 0, 0];
  for (let i = 0; i < 3_000; i++) {
    const key = `SYM${i}`;
    const partition = partitionFor(key, 3);
    assert.equal(partitionFor(key, 3), partition);
    counts[partition]++;
  }
  for (const count of counts) {
    assert.ok(count > 800 && count < 1_200, `${counts}`);
  }
});

Deno.test("partitionFor() rejects a partition count that is not a positive integer", () => {
  for (const partitions of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => partitionFor("AAPL", partitions), {
      name: "RangeError",
      message:
        `Cannot choose a partition as 'partitions' must be a positive integer: current value is ${partitions}`,
    });
  }
});

Deno.test("parseBrokers() reads a comma-separated list of host:port", () => {
  assert.deepEqual(parseBrokers("localhost:9092"), ["localhost:9092"]);
  assert.deepEqual(
    parseBrokers(" kafka-1:9092, kafka-2.internal:19092 ,,kafka-1:9092"),
    ["kafka-1:9092", "kafka-2.internal:19092"],
  );
  assert.deepEqual(parseBrokers("127.0.0.1:9092,[::1]:9093"), [
    "127.0.0.1:9092",
    "[::1]:9093",
  ]);
});

Deno.test("parseBrokers() rejects an empty list", () => {
  for (const text of ["", " , "]) {
    assert.throws(() => parseBrokers(text), {
      name: "RangeError",
      message:
        `Cannot parse the Kafka brokers as 'brokers' must list at least one host:port: current value is ${
          JSON.stringify(text)
        }`,
    });
  }
});

Deno.test("parseBrokers() rejects entries that are not host:port", () => {
  for (
    const entry of [
      "localhost",
      "localhost:",
      ":9092",
      "localhost:0",
      "localhost:65536",
      "localhost:90x2",
      "PLAINTEXT://localhost:9092",
      "user:secret@localhost:9092",
      "::1:9092",
      "-bad:9092",
    ]
  ) {
    assert.throws(() => parseBrokers(`localhost:9092,${entry}`), {
      name: "RangeError",
      message:
        `Cannot parse the Kafka brokers as each must be host:port with a port from 1 to 65535 (no scheme, no credentials): current value is ${
          JSON.stringify(entry)
        }`,
    }, entry);
  }
});

Deno.test("producerConfig() is idempotent, ordered and uses the Java-compatible partitioner", () => {
  const config = producerConfig();
  assert.equal(config.idempotent, true);
  assert.equal(config.maxInFlightRequests, 1);
  assert.equal(config.allowAutoTopicCreation, false);
  assert.equal(config.createPartitioner, Partitioners.DefaultPartitioner);
});

Deno.test("consumerConfig() names the group, shortens the session and rejects an empty group", () => {
  assert.deepEqual(consumerConfig("lake"), {
    groupId: "lake",
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 500,
  });
  assert.deepEqual(consumerConfig("lake", { retries: 2 }).retry, {
    retries: 2,
  });
  assert.throws(() => consumerConfig(" "), {
    name: "RangeError",
    message:
      `Cannot configure the Kafka consumer as 'groupId' must not be empty: current value is " "`,
  });
});

Deno.test("toKafkaMessages() keys each message by its key", () => {
  assert.deepEqual(
    toKafkaMessages([
      { key: "AAPL", value: '{"p":1}' },
      { key: "MSFT", value: '{"p":2}' },
    ]),
    [
      { key: "AAPL", value: '{"p":1}' },
      { key: "MSFT", value: '{"p":2}' },
    ],
  );
  assert.deepEqual(toKafkaMessages([]), []);
});

Deno.test("fromKafkaBatch() converts offsets, timestamps, keys and values", () => {
  const batch = fromKafkaBatch("stock-quotes", 2, [
    kafkaMessage(
      "41",
      "AAPL",
      '{"symbol":"AAPL","price":1.5}',
      "1700000000123",
    ),
    kafkaMessage("42", null, "ünïcode €"),
    kafkaMessage("43", "TSLA", null),
  ]);
  const fields = (
    { topic, partition, offset, key, value, timestamp }: StreamMessage,
  ) => ({ topic, partition, offset, key, value, timestamp });
  assert.deepEqual({ ...batch, messages: batch.messages.map(fields) }, {
    topic: "stock-quotes",
    partition: 2,
    messages: [
      {
        topic: "stock-quotes",
        partition: 2,
        offset: 41,
        key: "AAPL",
        value: '{"symbol":"AAPL","price":1.5}',
        timestamp: 1700000000123,
      },
      {
        topic: "stock-quotes",
        partition: 2,
        offset: 42,
        key: null,
        value: "ünïcode €",
        timestamp: 1700000000000,
      },
      {
        topic: "stock-quotes",
        partition: 2,
        offset: 43,
        key: "TSLA",
        value: "",
        timestamp: 1700000000000,
      },
    ],
  });
});

Deno.test("fromKafkaBatch() keeps the bytes kafkajs read, and decodes them only when read", () => {
  const value = Buffer.from('{"symbol":"AAPL"} \xff', "latin1");
  const [message, tombstone] = fromKafkaBatch("t", 0, [
    { ...kafkaMessage("7", "AAPL", null), value },
    kafkaMessage("8", null, null),
  ]).messages;
  assert.equal(message.valueBytes, value, "the same bytes, not a copy");
  assert.deepEqual([...message.keyBytes!], [
    ...new TextEncoder().encode("AAPL"),
  ]);
  assert.equal(message.value, '{"symbol":"AAPL"} \ufffd');
  assert.equal(message.value, message.value, "decoded once");
  assert.equal(tombstone.keyBytes, null);
  assert.equal(tombstone.key, null);
  assert.equal(tombstone.valueBytes?.length, 0);
  assert.equal(tombstone.value, "");
});

Deno.test("toNumber() reads digits up to the largest safe integer and refuses anything else", () => {
  for (const text of ["0", "7", "007", "1700000000123", "9007199254740991"]) {
    assert.equal(toNumber(text, "offset"), Number(text), text);
  }
  for (
    const text of [
      "",
      "-1",
      "+1",
      " 1",
      "1 ",
      "1.0",
      "1e3",
      "0x10",
      "9007199254740992",
      "9007199254740993",
      "99999999999999999999",
      "1".repeat(400),
    ]
  ) {
    assert.throws(() => toNumber(text, "offset"), RangeError, text);
  }
});

Deno.test("fromKafkaBatch() rejects an offset beyond the safe integer range", () => {
  assert.throws(
    () => fromKafkaBatch("t", 0, [kafkaMessage("9007199254740993", "k", "v")]),
    {
      name: "RangeError",
      message:
        `Cannot read the Kafka message as its 'offset' must be a non-negative safe integer: current value is "9007199254740993"`,
    },
  );
});

Deno.test("kafkaLogCreator() writes kafkajs lines one level quieter through our logger, without stacks", () => {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  const previousLevel = Deno.env.get("LOG_LEVEL");
  Deno.env.set("LOG_LEVEL", "debug");
  try {
    const write = kafkaLogCreator(logger("kafka"))(logLevel.INFO);
    const timestamp = "2024-01-01T00:00:00.000Z";
    write({
      namespace: "Connection",
      level: logLevel.ERROR,
      label: "ERROR",
      log: {
        timestamp,
        message: "Connection error: connect ECONNREFUSED",
        broker: "127.0.0.1:1",
        stack: "Error: at somewhere",
      },
    });
    write({
      namespace: "Producer",
      level: logLevel.WARN,
      label: "WARN",
      log: { timestamp, message: "slow" },
    });
    write({
      namespace: "Consumer",
      level: logLevel.INFO,
      label: "INFO",
      log: { timestamp, message: "Starting", groupId: "lake" },
    });
  } finally {
    if (previousLevel === undefined) Deno.env.delete("LOG_LEVEL");
    else Deno.env.set("LOG_LEVEL", previousLevel);
    restore();
  }
  assert.equal(lines.length, 3);
  assert.match(
    lines[0],
    /level=warn component=kafka msg="Connection error: connect ECONNREFUSED" namespace=Connection broker=127.0.0.1:1$/,
  );
  assert.doesNotMatch(lines[0], /stack|somewhere|2024-01-01/);
  assert.match(
    lines[1],
    /level=warn component=kafka msg=slow namespace=Producer$/,
  );
  assert.match(
    lines[2],
    /level=debug component=kafka msg=Starting namespace=Consumer groupId=lake$/,
  );
});

Deno.test("classifyKafkaError() follows kafkajs's retriable flag down the cause chain", () => {
  const error = (name: string, retriable?: boolean, cause?: Error) =>
    Object.assign(new Error(name, { cause }), { name, retriable });
  assert.equal(
    classifyKafkaError(error("KafkaJSConnectionError", true)),
    "retriable",
  );
  assert.equal(
    classifyKafkaError(
      error(
        "KafkaJSNonRetriableError",
        false,
        error("KafkaJSConnectionError", true),
      ),
    ),
    "retriable",
  );
  assert.equal(
    classifyKafkaError(error("KafkaJSNumberOfRetriesExceeded", false)),
    "retriable",
  );
  assert.equal(
    classifyKafkaError(error("KafkaJSProtocolError", false)),
    "fatal",
  );
  assert.equal(
    classifyKafkaError(error("KafkaJSSASLAuthenticationError", false)),
    "fatal",
  );
  // A coordinator that restarted past the session timeout forgot the member:
  // kafkajs rejoins, so a commit refused that way is retried, not fatal.
  for (const type of ["UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION"]) {
    assert.equal(
      classifyKafkaError(
        Object.assign(error("KafkaJSProtocolError", false), { type }),
      ),
      "retriable",
      type,
    );
  }
  assert.equal(
    classifyKafkaError(
      Object.assign(error("KafkaJSProtocolError", false), {
        type: "TOPIC_AUTHORIZATION_FAILED",
      }),
    ),
    "fatal",
  );
  // A commit while kafkajs restarts a crashed consumer finds no group yet.
  const notInitialized = Object.assign(
    new Error(
      "Consumer group was not initialized, consumer#run must be called first",
    ),
    { name: "KafkaJSNonRetriableError", retriable: false },
  );
  assert.equal(classifyKafkaError(notInitialized), "retriable");
  assert.equal(
    classifyKafkaError(error("KafkaJSNonRetriableError", false)),
    "fatal",
  );
  assert.equal(classifyKafkaError("boom"), "fatal");
});

Deno.test("KafkaStream shows its brokers as location and validates its options", () => {
  const stream = new KafkaStream({
    brokers: ["kafka-1:9092", "kafka-2:9092"],
    topic: "stock-quotes",
  });
  assert.equal(stream.location, "kafka://kafka-1:9092,kafka-2:9092");
  assert.equal(stream.topic, "stock-quotes");
  assert.throws(
    () => new KafkaStream({ brokers: ["localhost:9092"], topic: "bad topic" }),
    {
      name: "RangeError",
      message:
        `Cannot use the Kafka topic as 'topic' must be 1 to 249 letters, digits, '.', '_' or '-': current value is "bad topic"`,
    },
  );
  assert.throws(
    () =>
      new KafkaStream({
        brokers: ["localhost:9092"],
        topic: "t",
        partitions: 0,
      }),
    {
      name: "RangeError",
      message:
        `Cannot use the Kafka topic as 'partitions' must be a positive integer: current value is 0`,
    },
  );
  assert.throws(
    () => new KafkaStream({ brokers: [], topic: "t" }),
    { name: "RangeError" },
  );
});

function unreachableStream(): KafkaStream {
  return new KafkaStream({
    brokers: [`127.0.0.1:${closedPort()}`],
    topic: "stock-quotes",
    logLevel: "error",
    connectionTimeout: 200,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 },
  });
}

async function assertUnreachable(
  open: (stream: KafkaStream) => Promise<unknown>,
  action: string,
): Promise<void> {
  const stream = unreachableStream();
  const restore = setLogSink({ write: () => {} });
  const started = performance.now();
  try {
    await assert.rejects(() => open(stream), (error: unknown) => {
      assert.ok(error instanceof RetriableError, String(error));
      assert.ok(
        error.message.startsWith(`Cannot ${action} ${stream.location}: `),
        error.message,
      );
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
  } finally {
    restore();
  }
  assert.ok(performance.now() - started < 5_000);
}

Deno.test("KafkaStream.producer() fails fast with a RetriableError when no broker listens", async () => {
  await assertUnreachable(
    (stream) => stream.producer(),
    "connect a Kafka producer to",
  );
});

Deno.test("KafkaStream.consumer() fails fast with a RetriableError when no broker listens", async () => {
  await assertUnreachable(
    (stream) => stream.consumer("lake"),
    "connect a Kafka consumer of group 'lake' to",
  );
});

Deno.test("KafkaStream.ensureTopic() fails fast with a RetriableError when no broker listens", async () => {
  await assertUnreachable(
    (stream) => stream.ensureTopic(),
    "create topic 'stock-quotes' on",
  );
});

Deno.test("topicReplication() caps the replicas at the brokers and asks two in sync of three or more", () => {
  assert.deepEqual(topicReplication(3, 1), {
    replicationFactor: 1,
    capped: true,
  });
  assert.deepEqual(topicReplication(3, 3), {
    replicationFactor: 3,
    minInsyncReplicas: 2,
    capped: false,
  });
  assert.deepEqual(topicReplication(5, 3), {
    replicationFactor: 3,
    minInsyncReplicas: 2,
    capped: true,
  });
  assert.deepEqual(topicReplication(2, 3), {
    replicationFactor: 2,
    capped: false,
  });
  assert.deepEqual(topicReplication(4, 5), {
    replicationFactor: 4,
    minInsyncReplicas: 2,
    capped: false,
  });
});
