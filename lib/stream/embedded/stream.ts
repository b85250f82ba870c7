/**
 * The embedded stream: Kafka's partition and offset semantics in files, with
 * no broker.
 *
 * A topic is a directory under `STREAM_DIR` holding one append-only log per
 * partition (`partition-<n>.log`, one JSON record a line) and the committed
 * offsets of each consumer group (`offsets/<group>.json`). Keys map to
 * partitions with Kafka's own default partitioner; a send resolves once its
 * records are fsynced, like acks=all; offsets continue across runs, so a later
 * run never reuses an earlier run's offsets (and so never overwrites its lake
 * objects). One producer at a time holds the topic's lock; consumers may run
 * in the same process or in another one, tailing the logs.
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
import { PartitionLog, readLastRecords } from "./partition_log.ts";
import { EmbeddedProducer } from "./producer.ts";

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
    } = options;
    checkName("topic", topic);
    if (!Number.isSafeInteger(partitions) || partitions < 1) {
      throw new RangeError(
        `Cannot open the embedded stream as 'partitions' must be a positive integer: current value is ${partitions}`,
      );
    }
    this.topic = topic;
    this.#dir = join(resolve(dir), topic);
    this.location = `embedded://${this.#dir}`;
    this.#partitions = partitions;
    this.#maxBatch = maxBatchMessages;
    this.#pollMs = pollIntervalMs;
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
    const partitions = await this.#readPartitions();
    const logs: PartitionLog[] = [];
    for (let p = 0; p < partitions; p++) {
      logs.push(await PartitionLog.openForAppend(this.#logPath(p)));
    }
    return new EmbeddedProducer(logs, lock);
  }

  /** Opens a consumer in `groupId`, starting at the group's committed offsets. */
  async consumer(groupId: string): Promise<StreamConsumer> {
    checkName("groupId", groupId);
    await this.ensureTopic();
    const partitions = await this.#readPartitions();
    const offsetsPath = join(this.#dir, "offsets", `${groupId}.json`);
    return new EmbeddedConsumer({
      topic: this.topic,
      logPaths: Array.from({ length: partitions }, (_, p) => this.#logPath(p)),
      offsetsPath,
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
        messages: (await readLastRecords(this.#logPath(partition), count))
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

  #logPath(partition: number): string {
    return join(this.#dir, `partition-${partition}.log`);
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
