/**
 * The stream on Apache Kafka, through kafkajs.
 *
 * The producer is idempotent with one request in flight and waits for every
 * in-sync replica (`acks=all`), and it places keys with kafkajs's
 * `DefaultPartitioner`, the Java client's murmur2 partitioner, so a symbol
 * lives in the same partition here, in the Java clients and in the embedded
 * stream (`partitionFor` in `lib/partitioner.ts` calls the same function).
 *
 * The consumer never commits by itself: it hands each fetched batch to
 * {@linkcode ConsumerHandlers.onBatch} and commits only what the caller passes
 * to {@linkcode StreamConsumer.commit}. kafkajs has no revoke callback, and
 * after every rejoin it restarts each assigned partition from the group's
 * committed offset; so on every rebalance, rejoin, crash and on stop, all the
 * partitions held so far are handed to {@linkcode ConsumerHandlers.onRevoked}
 * before any further batch is delivered.
 *
 * @module
 */
import {
  type Admin,
  type Batch,
  type Consumer,
  type ConsumerConfig,
  type EachBatchPayload,
  Kafka,
  type KafkaConfig,
  type KafkaMessage,
  type logCreator,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
  type ProducerConfig,
  type RetryOptions,
} from "kafkajs";
import type {
  ConsumerHandlers,
  MessageBatch,
  OutgoingMessage,
  PartitionOffset,
  Stream,
  StreamConsumer,
  StreamMessage,
  StreamProducer,
} from "../stream.ts";
import { type Level, type Logger, logger, redact } from "../log.ts";
import { FatalError, RetriableError, retry } from "../retry.ts";

const log = logger("kafka");

/** Retries of admin reads (offsets, cluster id): about 25 s in all, for a cluster still electing its coordinators. */
const ADMIN_RETRY = { maxAttempts: 8, baseMs: 200, maxMs: 5_000 };

/**
 * A send that fails while the brokers are unreachable (one restarting, say)
 * is tried again with the same messages, for about two minutes in all before
 * the producer gives up. The idempotent producer keeps their sequence numbers,
 * so the broker writes a batch it already has only once.
 */
const SEND_RETRY = { maxAttempts: 12, baseMs: 500, maxMs: 15_000 };

/** How often a long-running batch handler heartbeats the group (kafkajs throttles to its `heartbeatInterval`). */
const HEARTBEAT_TICK_MS = 1_000;

const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

/** Options of {@linkcode KafkaStream}. */
export interface KafkaStreamOptions {
  /** Bootstrap brokers as `host:port`, e.g. from {@linkcode parseBrokers}. */
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
   * Replication factor of the topic when {@linkcode KafkaStream.ensureTopic} creates it.
   *
   * @default {1}
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
}

/**
 * Parses a comma-separated list of Kafka brokers, e.g. the `KAFKA_BROKERS`
 * setting `kafka1:9092,kafka2:9092`. Spaces around entries are ignored and
 * repeated entries kept once.
 *
 * @param text The list.
 * @returns The brokers as `host:port`.
 * @throws {RangeError} When the list is empty, or an entry is not `host:port`
 * with a port from 1 to 65535 (IPv6 hosts go in brackets: `[::1]:9092`).
 *
 * @example Parsing two brokers
 * ```ts
 * import { parseBrokers } from "./kafka.ts";
 * const brokers = parseBrokers("kafka1:9092, kafka2:9092");
 * console.assert(brokers.length === 2);
 * ```
 */
export function parseBrokers(text: string): string[] {
  const entries = text.split(",").map((entry) => entry.trim()).filter((
    entry,
  ) => entry.length > 0);
  if (entries.length === 0) {
    throw new RangeError(
      `Cannot parse the Kafka brokers as 'brokers' must list at least one host:port: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  for (const entry of entries) {
    const colon = entry.lastIndexOf(":");
    const host = colon === -1 ? "" : entry.slice(0, colon);
    const port = colon === -1 ? "" : entry.slice(colon + 1);
    const portNumber = Number(port);
    if (
      !HOST_PATTERN.test(host) || !/^[0-9]{1,5}$/.test(port) ||
      portNumber < 1 || portNumber > 65535
    ) {
      throw new RangeError(
        `Cannot parse the Kafka brokers as each must be host:port with a port from 1 to 65535 (no scheme, no credentials): current value is ${
          JSON.stringify(entry)
        }`,
      );
    }
  }
  return [...new Set(entries)];
}

/**
 * The kafkajs producer settings: idempotent, one request in flight (so a
 * retry never reorders a partition), no automatic topic creation (a topic
 * comes from {@linkcode KafkaStream.ensureTopic} with the partition count we
 * chose), and kafkajs's `DefaultPartitioner`, the Java client's murmur2.
 *
 * @returns The settings passed to `kafka.producer()`.
 */
export function producerConfig(): ProducerConfig {
  return {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  };
}

/**
 * The kafkajs consumer settings for a group.
 *
 * @param groupId The consumer group.
 * @param retry Retries of the group's requests; kafkajs's defaults when unset.
 * @returns The settings passed to `kafka.consumer()`.
 * @throws {RangeError} When `groupId` is empty.
 */
export function consumerConfig(
  groupId: string,
  retry?: RetryOptions,
): ConsumerConfig {
  if (groupId.trim().length === 0) {
    throw new RangeError(
      `Cannot configure the Kafka consumer as 'groupId' must not be empty: current value is ${
        JSON.stringify(groupId)
      }`,
    );
  }
  return {
    groupId,
    allowAutoTopicCreation: false,
    // A consumer that dies (SIGKILL, OOM) keeps its partitions until its session
    // expires: 10 s instead of kafkajs's 30 s lets the group move on sooner.
    sessionTimeout: 10_000,
    heartbeatInterval: 3_000,
    // How long a fetch waits for data: bounds both latency and how long stop() takes.
    maxWaitTimeInMs: 500,
    ...(retry === undefined ? {} : { retry }),
  };
}

/**
 * Turns outgoing messages into kafkajs messages, keyed by the message key so
 * the partitioner places them.
 *
 * @param messages The messages.
 * @returns kafkajs messages, in the same order.
 */
export function toKafkaMessages(messages: OutgoingMessage[]): Message[] {
  return messages.map(({ key, value }) => ({ key, value }));
}

/**
 * Turns a kafkajs batch's messages into a {@linkcode MessageBatch}: offsets
 * and timestamps from strings to numbers, keys and values from bytes to
 * UTF-8 text (a null value, a tombstone, becomes the empty string).
 *
 * @param topic The batch's topic.
 * @param partition The batch's partition.
 * @param messages The batch's messages, offsets ascending.
 * @returns The batch.
 * @throws {RangeError} When an offset or timestamp is not a non-negative safe integer.
 */
export function fromKafkaBatch(
  topic: string,
  partition: number,
  messages: KafkaMessage[],
): MessageBatch {
  const decoder = new TextDecoder();
  const text = (bytes: Uint8Array) => decoder.decode(bytes);
  return {
    topic,
    partition,
    messages: messages.map((message): StreamMessage => ({
      topic,
      partition,
      offset: toNumber(message.offset, "offset"),
      key: message.key === null ? null : text(message.key),
      value: message.value === null ? "" : text(message.value),
      timestamp: toNumber(message.timestamp, "timestamp"),
    })),
  };
}

function toNumber(text: string, name: string): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new RangeError(
      `Cannot read the Kafka message as its '${name}' must be a non-negative safe integer: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}

const TO_KAFKAJS_LEVEL: Record<Level, logLevel> = {
  debug: logLevel.DEBUG,
  info: logLevel.INFO,
  warn: logLevel.WARN,
  error: logLevel.ERROR,
};

/**
 * A kafkajs `logCreator` writing kafkajs's lines through our logger, with
 * kafkajs's namespace and fields (stack traces left out), one step quieter
 * than kafkajs: its errors are mostly faults it retries (a failure that
 * outlasts the retries reaches the caller as a thrown error), so they become
 * warnings, and its info lines (every connect and join) become debug lines.
 *
 * @param target The logger to write to.
 * @returns The log creator to pass as kafkajs's `logCreator`.
 */
export function kafkaLogCreator(target: Logger = log): logCreator {
  return () => ({ namespace, level, log: entry }) => {
    const {
      message,
      timestamp: _timestamp,
      stack: _stack,
      logger: _logger,
      ...fields
    } = entry;
    const line = { namespace, ...fields };
    switch (level) {
      case logLevel.ERROR:
      case logLevel.WARN:
        return target.warn(message, line);
      default:
        return target.debug(message, line);
    }
  };
}

/**
 * Whether a kafkajs failure may pass if retried later (a broker down, a
 * timeout, a leader moving, retries run out on such a fault) or is fatal (bad
 * configuration, denied access, an unsupported request), by kafkajs's own
 * rule for restarting a crashed consumer.
 *
 * @param error A failure thrown by kafkajs.
 * @returns `"retriable"` or `"fatal"`.
 */
export function classifyKafkaError(error: unknown): "retriable" | "fatal" {
  if (!(error instanceof Error)) return "fatal";
  if (error.name === "KafkaJSNumberOfRetriesExceeded") return "retriable";
  let original: unknown = error;
  while (original instanceof Error && original.cause instanceof Error) {
    original = original.cause;
  }
  const { retriable, type } = original as {
    retriable?: unknown;
    type?: unknown;
  };
  // The group forgot this member or its generation (a coordinator restarted
  // past the session timeout): kafkajs rejoins, and a later commit, or the
  // partition's next owner, commits what is landed. Not a reason to stop.
  if (type === "UNKNOWN_MEMBER_ID" || type === "ILLEGAL_GENERATION") {
    return "retriable";
  }
  return retriable === true ? "retriable" : "fatal";
}

/**
 * Wraps a kafkajs failure in a {@linkcode RetriableError} or
 * {@linkcode FatalError} with a one-line message naming the action.
 */
function streamError(action: string, error: unknown): Error {
  const detail = error instanceof Error ? error.message : String(error);
  const message = redact(`Cannot ${action}: ${detail}`).replace(/\s+/g, " ");
  return classifyKafkaError(error) === "retriable"
    ? new RetriableError(message, { cause: error })
    : new FatalError(message, { cause: error });
}

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

  /**
   * Describes the topic; nothing connects until a method is called.
   *
   * @param options Brokers, topic and client settings.
   * @throws {RangeError} When a broker is not `host:port`, the topic is not a
   * legal Kafka topic name, or the partition count or replication factor is
   * not a positive integer.
   */
  constructor(options: KafkaStreamOptions) {
    const {
      brokers,
      topic,
      partitions = 3,
      replicationFactor = 1,
      clientId = "stocks-pipeline",
      logLevel: level = "warn",
      connectionTimeout,
      requestTimeout,
      retry,
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
   * and waits for its partitions to have leaders; does nothing when the topic
   * exists (whatever its partition count).
   *
   * @throws {RetriableError} When the cluster cannot be reached.
   * @throws {FatalError} When the cluster refuses (e.g. a replication factor above the broker count).
   */
  async ensureTopic(): Promise<void> {
    const admin = this.#kafka.admin(
      this.#retry === undefined ? {} : { retry: this.#retry },
    );
    try {
      await admin.connect();
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic: this.topic,
          numPartitions: this.#partitions,
          replicationFactor: this.#replicationFactor,
        }],
      });
      if (created) {
        log.info("created topic", {
          topic: this.topic,
          partitions: this.#partitions,
          location: this.location,
        });
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

  /**
   * `kafka:<cluster id>`: the id Kafka formatted its storage with.
   *
   * @throws {RetriableError} When the cluster cannot be reached.
   */
  identity(): Promise<string> {
    return retry(() => this.#identity(), ADMIN_RETRY);
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
    return new KafkaConsumer(consumer, admin, this.topic, groupId);
  }
}

class KafkaProducer implements StreamProducer {
  readonly #producer: Producer;
  readonly #topic: string;
  readonly #location: string;
  #closed = false;

  constructor(producer: Producer, topic: string, location: string) {
    this.#producer = producer;
    this.#topic = topic;
    this.#location = location;
  }

  async send(messages: OutgoingMessage[]): Promise<void> {
    if (this.#closed) {
      throw new Error(
        `Cannot send messages to topic '${this.#topic}' as the producer is closed`,
      );
    }
    if (messages.length === 0) return;
    const records = toKafkaMessages(messages);
    let attempt = 0;
    await retry(async () => {
      try {
        await this.#producer.send({
          topic: this.#topic,
          messages: records,
          acks: -1,
        });
      } catch (error) {
        const failure = streamError(
          `send ${messages.length} messages to topic '${this.#topic}' on ${this.#location}`,
          error,
        );
        if (
          failure instanceof RetriableError &&
          ++attempt < SEND_RETRY.maxAttempts
        ) {
          log.warn("send failed; sending the same messages again", {
            attempt,
            messages: messages.length,
            error: failure.message,
          });
        }
        throw failure;
      }
    }, SEND_RETRY);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#producer.disconnect();
  }
}

type ConsumerState = "idle" | "running" | "stopping" | "stopped";

class KafkaConsumer implements StreamConsumer {
  readonly #consumer: Consumer;
  readonly #admin: Admin;
  readonly #topic: string;
  readonly #groupId: string;
  #state: ConsumerState = "idle";
  #handlers: ConsumerHandlers | undefined;
  /** Partitions handed to the handlers and not revoked yet. */
  #assigned = new Set<number>();
  /** Bumped whenever the assignment ends, so batches of an earlier one are dropped. */
  #generation = 0;
  /** Revocations in progress, in order; batches wait for them. */
  #revoking: Promise<void> = Promise.resolve();
  /** The handler call in progress, if any. */
  #inFlight: Promise<void> | undefined;
  /** kafkajs's `run()`, which resolves once the first join ended. */
  #starting: Promise<void> | undefined;
  /** A revocation that failed while the consumer was already stopping. */
  #lateFailure: unknown;
  #unsubscribe: (() => void)[] = [];
  #done = Promise.withResolvers<void>();
  #stopped: Promise<void> | undefined;

  constructor(
    consumer: Consumer,
    admin: Admin,
    topic: string,
    groupId: string,
  ) {
    this.#consumer = consumer;
    this.#admin = admin;
    this.#topic = topic;
    this.#groupId = groupId;
    // run()'s callers see the rejection; this only keeps it from being
    // reported as unhandled when it happens while nobody awaits run().
    this.#done.promise.catch(() => {});
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    if (this.#state !== "idle") {
      throw new Error(
        `Cannot run the Kafka consumer of group '${this.#groupId}' as it must run once: current state is ${this.#state}`,
      );
    }
    this.#state = "running";
    this.#handlers = handlers;
    const { events } = this.#consumer;
    this.#unsubscribe.push(
      this.#consumer.on(events.GROUP_JOIN, ({ payload }) => {
        this.#onJoin(payload.memberAssignment[this.#topic] ?? []);
      }),
      this.#consumer.on(events.REBALANCING, () => {
        this.#revokeAll("rebalance");
      }),
      this.#consumer.on(events.CRASH, ({ payload }) => {
        this.#onCrash(payload.error, payload.restart);
      }),
    );
    try {
      await this.#consumer.subscribe({
        topics: [this.#topic],
        fromBeginning: true,
      });
      this.#starting = this.#consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.#eachBatch(payload),
      });
      await this.#starting;
    } catch (error) {
      this.#fail(
        streamError(
          `consume topic '${this.#topic}' in group '${this.#groupId}'`,
          error,
        ),
        true,
      );
    }
    return await this.#done.promise;
  }

  async commit(offsets: PartitionOffset[]): Promise<void> {
    if (this.#state === "stopped") {
      throw new Error(
        `Cannot commit offsets of group '${this.#groupId}' as the consumer is stopped`,
      );
    }
    for (const { partition, offset } of offsets) {
      if (
        !Number.isSafeInteger(partition) || partition < 0 ||
        !Number.isSafeInteger(offset) || offset < 0
      ) {
        throw new RangeError(
          `Cannot commit offsets as each partition and offset must be a non-negative integer: current value is ${
            JSON.stringify({ partition, offset })
          }`,
        );
      }
    }
    if (offsets.length === 0) return;
    try {
      await this.#consumer.commitOffsets(
        offsets.map(({ partition, offset }) => ({
          topic: this.#topic,
          partition,
          offset: String(offset),
        })),
      );
    } catch (error) {
      throw streamError(
        `commit offsets of group '${this.#groupId}' on topic '${this.#topic}'`,
        error,
      );
    }
  }

  startOffsets(): Promise<PartitionOffset[]> {
    return retry(() => this.#topicOffsets("low"), ADMIN_RETRY);
  }

  endOffsets(): Promise<PartitionOffset[]> {
    // A fresh cluster answers NOT_COORDINATOR or LEADER_NOT_AVAILABLE at first.
    return retry(() => this.#topicOffsets("high"), ADMIN_RETRY);
  }

  async #topicOffsets(end: "low" | "high"): Promise<PartitionOffset[]> {
    try {
      const offsets = await this.#admin.fetchTopicOffsets(this.#topic);
      return offsets
        .map((partition) => ({
          partition: partition.partition,
          offset: toNumber(
            partition[end],
            end === "high" ? "high watermark" : "log start offset",
          ),
        }))
        .sort((a, b) => a.partition - b.partition);
    } catch (error) {
      throw streamError(
        `read the ${
          end === "high" ? "end" : "start"
        } offsets of topic '${this.#topic}'`,
        error,
      );
    }
  }

  committedOffsets(): Promise<PartitionOffset[]> {
    return retry(() => this.#committedOffsets(), ADMIN_RETRY);
  }

  async #committedOffsets(): Promise<PartitionOffset[]> {
    try {
      const topics = await this.#admin.fetchOffsets({
        groupId: this.#groupId,
        topics: [this.#topic],
      });
      return topics
        .filter(({ topic }) => topic === this.#topic)
        .flatMap(({ partitions }) => partitions)
        .filter(({ offset }) => offset !== "-1")
        .map(({ partition, offset }) => ({
          partition,
          offset: toNumber(offset, "committed offset"),
        }))
        .sort((a, b) => a.partition - b.partition);
    } catch (error) {
      throw streamError(
        `read the committed offsets of group '${this.#groupId}'`,
        error,
      );
    }
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    if (this.#state === "idle") {
      this.#state = "stopped";
      await this.#disconnect();
      this.#done.resolve();
      return;
    }
    if (this.#state !== "running") {
      // A failure is already shutting the consumer down.
      await this.#done.promise.catch(() => {});
      return;
    }
    this.#state = "stopping";
    this.#generation++;
    // Stopping kafkajs in the middle of its first join would let it restart.
    await this.#starting?.catch(() => {});
    this.#pause();
    await this.#idle();
    await this.#revoking;
    const partitions = this.#takeAssigned();
    let failure: unknown = this.#lateFailure;
    if (partitions.length > 0) {
      log.info("revoking partitions", {
        reason: "stop",
        groupId: this.#groupId,
        partitions,
      });
      try {
        await this.#handlers!.onRevoked(partitions);
      } catch (error) {
        failure ??= error;
      }
    }
    await this.#disconnect();
    this.#state = "stopped";
    if (failure === undefined) {
      this.#done.resolve();
    } else {
      this.#done.reject(failure);
      throw failure;
    }
  }

  async #eachBatch(
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
  ): Promise<void> {
    const generation = this.#generation;
    await this.#revoking;
    if (
      this.#state !== "running" || generation !== this.#generation ||
      !isRunning() || isStale() || !this.#assigned.has(batch.partition) ||
      batch.messages.length === 0
    ) {
      // Not resolved: kafkajs will fetch these messages again, or the next
      // assignment restarts from the committed offset.
      return;
    }
    const task = this.#handle(batch, heartbeat);
    this.#inFlight = task;
    try {
      await task;
    } catch (error) {
      // Never thrown into kafkajs, which would retry the batch behind our back.
      this.#fail(error, true);
      return;
    } finally {
      this.#inFlight = undefined;
    }
    if (this.#state === "running" && generation === this.#generation) {
      resolveOffset(batch.messages[batch.messages.length - 1].offset);
    }
  }

  async #handle(batch: Batch, heartbeat: () => Promise<void>): Promise<void> {
    const converted = fromKafkaBatch(
      batch.topic,
      batch.partition,
      batch.messages,
    );
    // A slow handler (an upload with retries) must not let the session expire.
    const timer = setInterval(() => {
      heartbeat().catch(() => {});
    }, HEARTBEAT_TICK_MS);
    try {
      await this.#handlers!.onBatch(converted);
    } finally {
      clearInterval(timer);
    }
  }

  #onJoin(partitions: number[]): void {
    // A rejoin without a REBALANCING event (unknown member id, restart after
    // a crash) also restarts every partition from its committed offset.
    this.#revokeAll("rejoin");
    // While stopping, the partitions held so far stay for stop() to revoke,
    // and the new ones never get a batch.
    if (this.#state !== "running") return;
    this.#assigned = new Set(partitions);
    log.info("partitions assigned", {
      groupId: this.#groupId,
      topic: this.#topic,
      partitions: [...partitions].sort((a, b) => a - b),
    });
  }

  #onCrash(error: Error, restart: boolean): void {
    log.error("kafka consumer crashed", {
      groupId: this.#groupId,
      error,
      restart,
    });
    if (restart) {
      this.#revokeAll("crash");
    } else {
      this.#fail(
        streamError(
          `consume topic '${this.#topic}' in group '${this.#groupId}'`,
          error,
        ),
        true,
      );
    }
  }

  /**
   * Ends the current assignment: batches already fetched for it are dropped,
   * and the handlers hear of its partitions before any later batch. While
   * stopping, stop() (or the failure) revokes them instead.
   */
  #revokeAll(reason: string): void {
    this.#generation++;
    if (this.#state !== "running") return;
    const partitions = this.#takeAssigned();
    if (partitions.length === 0) return;
    const handlers = this.#handlers!;
    this.#revoking = this.#revoking.then(async () => {
      await this.#idle();
      log.info("revoking partitions", {
        reason,
        groupId: this.#groupId,
        partitions,
      });
      await handlers.onRevoked(partitions);
    }).catch((error) => {
      if (this.#state === "running") this.#fail(error, false);
      else this.#lateFailure ??= error;
    });
  }

  #takeAssigned(): number[] {
    const partitions = [...this.#assigned].sort((a, b) => a - b);
    this.#assigned = new Set();
    return partitions;
  }

  /**
   * Stops the consumer after a fatal error; `revoke` tells whether the
   * handlers should still hear that their partitions are gone.
   */
  #fail(error: unknown, revoke: boolean): void {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    this.#generation++;
    log.error("kafka consumer failed", { groupId: this.#groupId, error });
    void (async () => {
      await this.#starting?.catch(() => {});
      this.#pause();
      await this.#idle();
      // A failure of the revocations themselves must not wait for them.
      if (revoke) await this.#revoking;
      const partitions = this.#takeAssigned();
      if (revoke && partitions.length > 0) {
        try {
          await this.#handlers!.onRevoked(partitions);
        } catch (revokeError) {
          log.warn("revoking partitions after a failure failed", {
            groupId: this.#groupId,
            error: revokeError,
          });
        }
      }
      await this.#disconnect();
      this.#state = "stopped";
      this.#done.reject(error);
    })();
  }

  #pause(): void {
    try {
      this.#consumer.pause([{ topic: this.#topic }]);
    } catch {
      // Not running (crashed or never started): nothing to pause.
    }
  }

  async #idle(): Promise<void> {
    await this.#inFlight?.catch(() => {});
  }

  async #disconnect(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    for (const client of [this.#consumer, this.#admin]) {
      try {
        await client.disconnect();
      } catch (error) {
        log.warn("kafka disconnect failed", { groupId: this.#groupId, error });
      }
    }
  }
}
