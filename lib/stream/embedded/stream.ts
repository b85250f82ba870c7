/**
 * The embedded stream: Kafka's partition and offset semantics in files, with
 * no broker.
 *
 * A topic is a directory under `STREAM_DIR` holding each partition's log as
 * segment files (`partition-<n>/<base offset>.log`, one JSON record a line;
 * `segments.ts`), the committed offsets of each consumer group
 * (`offsets/<group>.json`) and its lock (`offsets/<group>.lock`). Keys map to
 * partitions with Kafka's own default partitioner; a send resolves once its
 * records are fsynced, like acks=all; offsets continue across runs, so a later
 * run never reuses an earlier run's offsets (and so never overwrites its lake
 * objects). Closed segments are deleted by age and by size (`retention.ts`),
 * which moves each partition's log start forward. One producer at a time
 * holds the topic's lock, and one running consumer per group holds the
 * group's; consumers may run in the same process as the producer or in
 * another one, tailing the logs.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type {
  MessageBatch,
  Stream,
  StreamConsumer,
  StreamProducer,
} from "../stream.ts";
import { checkTailCount } from "../stream.ts";
import { EmbeddedConsumer } from "./consumer.ts";
import { PartitionLog } from "./partition_log.ts";
import { EmbeddedProducer } from "./producer.ts";
import { type LogRecord, readLastRecords } from "./records.ts";
import { DEFAULT_RETENTION, type RetentionPolicy } from "./retention.ts";
import { listSegments } from "./segments.ts";

/** Options for {@linkcode EmbeddedStream}. */
export interface EmbeddedStreamOptions {
  /** Directory holding the topics. */
  dir: string;
  /** Topic name. */
  topic: string;
  /**
   * Partitions of the topic when it is created; an existing topic keeps its own.
   *
   * @default {3}
   */
  partitions?: number;
  /**
   * Most messages a consumer hands over in one batch.
   *
   * @default {1000}
   */
  maxBatchMessages?: number;
  /**
   * How long a consumer waits before looking again at a log it has read to the end, in milliseconds.
   *
   * @default {50}
   */
  pollIntervalMs?: number;
  /**
   * A closed segment whose newest record is older than this is deleted once
   * every consumer group has committed past it, in milliseconds.
   *
   * @default {604800000} (7 days)
   */
  retentionMs?: number;
  /**
   * Closed segments are deleted, oldest first, while a partition's other
   * segments still hold this many bytes, whatever the groups have committed.
   *
   * @default {1073741824} (1 GiB)
   */
  retentionBytes?: number;
  /**
   * The active segment is closed before a send would take it past this many bytes.
   *
   * @default {67108864} (64 MiB)
   */
  segmentBytes?: number;
  /**
   * The active segment is closed once its first record is this old, in milliseconds.
   *
   * @default {86400000} (1 day)
   */
  segmentMs?: number;
  /**
   * The clock, epoch milliseconds: records' timestamps, segment ages and retention.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** A topic of the embedded stream. */
export class EmbeddedStream implements Stream {
  /** Topic name. */
  readonly topic: string;
  /** `file://`-style location of the topic directory. */
  readonly location: string;
  readonly #dir: string;
  readonly #partitions: number;
  readonly #maxBatch: number;
  readonly #pollMs: number;
  readonly #policy: RetentionPolicy;
  readonly #now: () => number;

  /**
   * Opens a topic; nothing is written until {@linkcode EmbeddedStream.ensureTopic}.
   *
   * @param options Directory, topic and tuning.
   * @throws {RangeError} When the topic name or partition count is invalid.
   */
  constructor(options: EmbeddedStreamOptions) {
    const {
      dir,
      topic,
      partitions = 3,
      maxBatchMessages = 1000,
      pollIntervalMs = 50,
      retentionMs = DEFAULT_RETENTION.retentionMs,
      retentionBytes = DEFAULT_RETENTION.retentionBytes,
      segmentBytes = DEFAULT_RETENTION.segmentBytes,
      segmentMs = DEFAULT_RETENTION.segmentMs,
      now = Date.now,
    } = options;
    checkName("topic", topic);
    checkPositive("partitions", partitions);
    const policy = { retentionMs, retentionBytes, segmentBytes, segmentMs };
    for (const [name, value] of Object.entries(policy)) {
      checkPositive(name, value);
    }
    this.topic = topic;
    this.#dir = join(resolve(dir), topic);
    this.location = `embedded://${this.#dir}`;
    this.#partitions = partitions;
    this.#maxBatch = maxBatchMessages;
    this.#pollMs = pollIntervalMs;
    this.#policy = policy;
    this.#now = now;
  }

  /** Creates the topic's directory and metadata unless they exist. */
  async ensureTopic(): Promise<void> {
    await Deno.mkdir(join(this.#dir, "offsets"), { recursive: true });
    try {
      await Deno.writeTextFile(
        join(this.#dir, "topic.json"),
        JSON.stringify({
          partitions: this.#partitions,
          id: crypto.randomUUID(),
        }) + "\n",
        { createNew: true },
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }

  /**
   * Opens the producer, holding the topic's lock until it closes.
   *
   * @throws {Error} When another producer holds the topic.
   */
  async producer(): Promise<StreamProducer> {
    await this.ensureTopic();
    const lock = await Deno.open(join(this.#dir, "producer.lock"), {
      write: true,
      create: true,
    });
    if (!await lock.tryLock(true)) {
      lock.close();
      throw new Error(
        `Cannot open a producer on the embedded stream as another process is producing to ${this.#dir}`,
      );
    }
    const logs: PartitionLog[] = [];
    try {
      const partitions = await this.#readPartitions();
      for (let partition = 0; partition < partitions; partition++) {
        logs.push(
          await PartitionLog.open({
            topicDir: this.#dir,
            partition,
            policy: this.#policy,
          }),
        );
      }
      return new EmbeddedProducer({
        logs,
        lock,
        offsetsDir: join(this.#dir, "offsets"),
        now: this.#now,
      });
    } catch (error) {
      for (const log of logs) log.close();
      lock.close();
      throw error;
    }
  }

  /**
   * Opens a consumer in `groupId`, starting at the group's committed offsets
   * (the log start when it has none). Reading offsets needs no lock; running
   * it takes the group's.
   */
  async consumer(groupId: string): Promise<StreamConsumer> {
    checkName("groupId", groupId);
    await this.ensureTopic();
    return new EmbeddedConsumer({
      topic: this.topic,
      topicDir: this.#dir,
      partitions: await this.#readPartitions(),
      group: groupId,
      offsetsPath: join(this.#dir, "offsets", `${groupId}.json`),
      lockPath: join(this.#dir, "offsets", `${groupId}.lock`),
      maxBatch: this.#maxBatch,
      pollMs: this.#pollMs,
    });
  }

  /**
   * The last `count` records of each partition log, read backwards from its
   * end (a torn last line is left out); none when the topic does not exist.
   *
   * @param count Most messages per partition.
   * @throws {RangeError} When `count` is not a positive integer.
   */
  async lastMessages(count: number): Promise<MessageBatch[]> {
    checkTailCount(count);
    let partitions: number;
    try {
      partitions = await this.#readPartitions();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    return await Promise.all(
      Array.from({ length: partitions }, async (_, partition) => ({
        topic: this.topic,
        partition,
        messages: (await this.#lastRecords(partition, count))
          .map((record) => ({
            topic: this.topic,
            partition,
            offset: record.o,
            key: record.k,
            value: record.v,
            timestamp: record.ts,
          })),
      })),
    );
  }

  /** A partition's last `count` records, from its newest segment backwards. */
  async #lastRecords(partition: number, count: number): Promise<LogRecord[]> {
    const segments = await listSegments(this.#dir, partition);
    let records: LogRecord[] = [];
    for (let i = segments.length - 1; i >= 0 && records.length < count; i--) {
      // A segment deleted by retention meanwhile reads as empty.
      const older = await readLastRecords(
        segments[i].path,
        count - records.length,
      );
      records = [...older, ...records];
    }
    return records;
  }

  /** `embedded:<uuid>`: the id the topic got when it was created. */
  async identity(): Promise<string> {
    await this.ensureTopic();
    return `embedded:${(await this.#readMeta()).id}`;
  }

  async #readPartitions(): Promise<number> {
    return (await this.#readMeta()).partitions;
  }

  async #readMeta(): Promise<{ partitions: number; id: string }> {
    const path = join(this.#dir, "topic.json");
    const meta = JSON.parse(await Deno.readTextFile(path));
    if (typeof meta.id !== "string") {
      throw new Error(
        `Cannot use the embedded stream as ${path} has no id: it predates stream identities; delete ${this.#dir}`,
      );
    }
    return meta;
  }
}

function checkPositive(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot open the embedded stream as '${name}' must be a positive integer: current value is ${value}`,
    );
  }
}

function checkName(name: string, value: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new RangeError(
      `Cannot use the embedded stream as '${name}' must match ${SAFE_NAME.source}: current value is ${
        JSON.stringify(value)
      }`,
    );
  }
}
