/**
 * The stream on Apache Kafka, through kafkajs: one topic of a cluster.
 *
 * The producer (./producer.ts) is idempotent with one request in flight and
 * waits for every in-sync replica (`acks=all`), and it places keys with
 * kafkajs's `DefaultPartitioner`, the Java client's murmur2 partitioner, so a
 * symbol lives in the same partition here, in the Java clients and in the
 * embedded stream (`partitionFor` in `lib/stream/partitioner.ts` calls the
 * same function). The consumer (./consumer.ts) never commits by itself and
 * hands every partition back before a rebalance moves it.
 *
 * @module
 */
import {
  type Admin,
  Kafka,
  type KafkaConfig,
  type RetryOptions,
} from "kafkajs";
import { type Level, logger } from "../../runtime/log.ts";
import {
  retry,
  type RetryOptions as OurRetryOptions,
  sleep,
} from "../../runtime/retry.ts";
import type {
  MessageBatch,
  Stream,
  StreamConsumer,
  StreamProducer,
} from "../stream.ts";
import { checkTailCount } from "../stream.ts";
import {
  ADMIN_RETRY,
  consumerConfig,
  parseBrokers,
  producerConfig,
  TOPIC_PATTERN,
  topicReplication,
} from "./config.ts";
import { KafkaConsumer } from "./consumer.ts";
import { streamError } from "./errors.ts";
import {
  kafkaLogCreator,
  muteKafkajsTimerWarning,
  TO_KAFKAJS_LEVEL,
} from "./log.ts";
import { KafkaProducer } from "./producer.ts";
import { readTail } from "./tail.ts";

const log = logger("kafka");

/**
 * Whether an error (or one it wraps) says the broker does not know the
 * topic, or its partitions have no leader, yet: what a topic being created
 * by another process answers for a moment.
 */
function topicNotKnownYet(error: unknown): boolean {
  for (let e = error; e instanceof Error;) {
    const type = (e as { type?: unknown }).type;
    if (
      type === "UNKNOWN_TOPIC_OR_PARTITION" || type === "LEADER_NOT_AVAILABLE"
    ) {
      return true;
    }
    e = (e as { cause?: unknown }).cause ??
      (e as { originalError?: unknown }).originalError;
  }
  return false;
}

/** Longest wait for the leaders of a topic another process has just created. */
const LEADER_WAIT_MS = 30_000;
/** How often that wait reads the topic's metadata. */
const LEADER_POLL_MS = 100;

/** Options of {@linkcode KafkaStream}. */
export interface KafkaStreamOptions {
  /** Bootstrap brokers as `host:port`, e.g. from `parseBrokers()` (./config.ts). */
  brokers: string[];
  /** The topic. */
  topic: string;
  /**
   * Partitions of the topic when {@linkcode KafkaStream.ensureTopic} creates it.
   *
   * @default {3}
   */
  partitions?: number;
  /**
   * Replication factor of the topic when {@linkcode KafkaStream.ensureTopic}
   * creates it, capped at the cluster's brokers (`topicReplication`); with
   * three or more replicas the topic gets `min.insync.replicas` 2.
   *
   * @default {3}
   */
  replicationFactor?: number;
  /**
   * Client id, shown in broker logs.
   *
   * @default {"stocks-pipeline"}
   */
  clientId?: string;
  /**
   * Lowest level of kafkajs's own log lines passed to our logger; kafkajs
   * logs every join and retry at `info`, so the default keeps it quiet.
   *
   * @default {"warn"}
   */
  logLevel?: Level;
  /**
   * Milliseconds to wait for a broker connection to open.
   *
   * @default {1000}
   */
  connectionTimeout?: number;
  /**
   * Milliseconds to wait for a broker's answer to one request.
   *
   * @default {30000}
   */
  requestTimeout?: number;
  /**
   * Retries of connections, metadata, admin and consumer requests (kafkajs's
   * `retry`). A producer's send that still fails is sent again, the same
   * messages, for about two minutes (its idempotence makes that safe).
   *
   * @default {{ retries: 5, initialRetryTime: 300, maxRetryTime: 30000 }}
   */
  retry?: RetryOptions;
  /**
   * Attempts and backoff of the admin reads (the log's identity, offsets),
   * each attempt with kafkajs's own `retry` inside.
   *
   * @default {ADMIN_RETRY}
   */
  adminRetry?: AdminRetry;
}

/** Attempts and backoff of {@linkcode KafkaStreamOptions.adminRetry}. */
export type AdminRetry = Pick<
  OurRetryOptions,
  "maxAttempts" | "baseMs" | "maxMs"
>;

/** A topic on a Kafka cluster. */
export class KafkaStream implements Stream {
  /** `kafka://host:port,…`, without credentials. */
  readonly location: string;
  /** The topic's name. */
  readonly topic: string;
  readonly #kafka: Kafka;
  readonly #partitions: number;
  readonly #replicationFactor: number;
  readonly #retry: RetryOptions | undefined;
  readonly #adminRetry: AdminRetry;
  readonly #clientId: string;

  /**
   * Describes the topic; nothing connects until a method is called.
   *
   * @param options Brokers, topic and client settings.
   * @throws {RangeError} When a broker is not `host:port`, the topic is not a
   * legal Kafka topic name, or the partition count or replication factor is
   * not a positive integer.
   */
  constructor(options: KafkaStreamOptions) {
    muteKafkajsTimerWarning();
    const {
      brokers,
      topic,
      partitions = 3,
      replicationFactor = 3,
      clientId = "stocks-pipeline",
      logLevel: level = "warn",
      connectionTimeout,
      requestTimeout,
      retry,
      adminRetry = ADMIN_RETRY,
    } = options;
    const parsed = parseBrokers(brokers.join(","));
    if (!TOPIC_PATTERN.test(topic) || topic === "." || topic === "..") {
      throw new RangeError(
        `Cannot use the Kafka topic as 'topic' must be 1 to 249 letters, digits, '.', '_' or '-': current value is ${
          JSON.stringify(topic)
        }`,
      );
    }
    for (
      const [name, value] of [["partitions", partitions], [
        "replicationFactor",
        replicationFactor,
      ]] as const
    ) {
      if (!Number.isSafeInteger(value) || value <= 0) {
        throw new RangeError(
          `Cannot use the Kafka topic as '${name}' must be a positive integer: current value is ${value}`,
        );
      }
    }
    this.location = `kafka://${parsed.join(",")}`;
    this.topic = topic;
    this.#partitions = partitions;
    this.#replicationFactor = replicationFactor;
    this.#retry = retry;
    this.#adminRetry = adminRetry;
    this.#clientId = clientId;
    const config: KafkaConfig = {
      brokers: parsed,
      clientId,
      logLevel: TO_KAFKAJS_LEVEL[level],
      logCreator: kafkaLogCreator(),
    };
    if (connectionTimeout !== undefined) {
      config.connectionTimeout = connectionTimeout;
    }
    if (requestTimeout !== undefined) config.requestTimeout = requestTimeout;
    if (retry !== undefined) config.retry = retry;
    this.#kafka = new Kafka(config);
  }

  /**
   * Creates the topic with the configured partitions and replication factor,
   * and waits for its partitions to have leaders; when the topic exists
   * (whatever its partition count), only waits for those. A topic another
   * process is creating at the same moment may be unknown to the broker
   * answering for a moment: then the whole step is tried again, as the admin
   * reads are ({@linkcode ADMIN_RETRY}); any other failure (no broker
   * listening, say) is thrown at once.
   *
   * @throws {RetriableError} When the cluster cannot be reached.
   * @throws {FatalError} When the cluster refuses (e.g. a replication factor above the broker count).
   */
  ensureTopic(): Promise<void> {
    return retry(() => this.#ensureTopic(), {
      ...ADMIN_RETRY,
      isRetriable: topicNotKnownYet,
    });
  }

  async #ensureTopic(): Promise<void> {
    const admin = this.#kafka.admin(
      this.#retry === undefined ? {} : { retry: this.#retry },
    );
    try {
      await admin.connect();
      const { brokers } = await admin.describeCluster();
      const replication = topicReplication(
        this.#replicationFactor,
        brokers.length,
      );
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic: this.topic,
          numPartitions: this.#partitions,
          replicationFactor: replication.replicationFactor,
          configEntries: replication.minInsyncReplicas === undefined ? [] : [{
            name: "min.insync.replicas",
            value: String(replication.minInsyncReplicas),
          }],
        }],
      });
      if (created) {
        log.info("created topic", {
          topic: this.topic,
          partitions: this.#partitions,
          replication_factor: replication.replicationFactor,
          ...(replication.minInsyncReplicas === undefined
            ? {}
            : { min_insync_replicas: replication.minInsyncReplicas }),
          location: this.location,
        });
        if (replication.capped) {
          log.info("replication factor capped at the cluster's brokers", {
            topic: this.topic,
            configured: this.#replicationFactor,
            brokers: brokers.length,
          });
        }
      } else {
        // Another process may have created it a moment ago (a producer and
        // a consumer starting together): its partitions may have no leader
        // yet, and a consumer subscribing now would fail.
        await this.#waitForLeaders(admin);
      }
    } catch (error) {
      throw streamError(
        `create topic '${this.topic}' on ${this.location}`,
        error,
      );
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Waits until every partition of the topic has a leader, up to {@linkcode LEADER_WAIT_MS}. */
  async #waitForLeaders(admin: Admin): Promise<void> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    for (;;) {
      const led = await admin.fetchTopicMetadata({ topics: [this.topic] })
        .then(
          ({ topics }) =>
            (topics[0]?.partitions.length ?? 0) > 0 &&
            topics[0].partitions.every((p) => p.leader >= 0),
          (error) => {
            if (Date.now() >= deadline) throw error;
            return false;
          },
        );
      if (led) return;
      if (Date.now() >= deadline) {
        throw new Error(
          `the partitions of topic '${this.topic}' have no leader after ${
            LEADER_WAIT_MS / 1000
          } s`,
        );
      }
      await sleep(LEADER_POLL_MS);
    }
  }

  /**
   * `kafka:<cluster id>`: the id Kafka formatted its storage with.
   *
   * @throws {RetriableError} When the cluster cannot be reached.
   */
  identity(): Promise<string> {
    return retry(() => this.#identity(), this.#adminRetry);
  }

  async #identity(): Promise<string> {
    const admin = this.#kafka.admin(
      this.#retry === undefined ? {} : { retry: this.#retry },
    );
    try {
      await admin.connect();
      const { clusterId } = await admin.describeCluster();
      return `kafka:${clusterId}`;
    } catch (error) {
      throw streamError(`describe the cluster at ${this.location}`, error);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * The last `count` messages of each partition, below the high watermarks
   * read at the start, through a consumer group of its own that is deleted
   * after (./tail.ts); none when the topic does not exist.
   *
   * @param count Most messages per partition.
   * @throws {RangeError} When `count` is not a positive integer.
   * @throws {RetriableError} When the cluster cannot be reached or the read takes more than 30 s.
   * @throws {FatalError} When the cluster refuses a request.
   */
  lastMessages(count: number): Promise<MessageBatch[]> {
    checkTailCount(count);
    return readTail(this.#kafka, this.topic, {
      count,
      groupPrefix: this.#clientId,
      location: this.location,
      retry: this.#retry,
    });
  }

  /**
   * Opens a connected producer.
   *
   * @throws {RetriableError} When no broker can be reached.
   * @throws {FatalError} When the cluster refuses the client.
   */
  async producer(): Promise<StreamProducer> {
    const producer = this.#kafka.producer(producerConfig());
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw streamError(
        `connect a Kafka producer to ${this.location}`,
        error,
      );
    }
    return new KafkaProducer(producer, this.topic, this.location);
  }

  /**
   * Opens a connected consumer in `groupId`; it reads from the earliest
   * offset of partitions the group never committed.
   *
   * @param groupId The consumer group.
   * @throws {RangeError} When `groupId` is empty.
   * @throws {RetriableError} When no broker can be reached.
   * @throws {FatalError} When the cluster refuses the client.
   */
  async consumer(groupId: string): Promise<StreamConsumer> {
    const consumer = this.#kafka.consumer(consumerConfig(groupId, this.#retry));
    const admin = this.#kafka.admin(
      this.#retry === undefined ? {} : { retry: this.#retry },
    );
    try {
      await consumer.connect();
      await admin.connect();
    } catch (error) {
      await consumer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
      throw streamError(
        `connect a Kafka consumer of group '${groupId}' to ${this.location}`,
        error,
      );
    }
    return new KafkaConsumer(
      consumer,
      admin,
      this.topic,
      groupId,
      this.#adminRetry,
    );
  }
}
