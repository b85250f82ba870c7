/**
 * The stream seam: a partitioned, offset-addressed log of messages.
 *
 * Two implementations share these semantics: Kafka through kafkajs
 * (`lib/stream/kafka/`, when `KAFKA_BROKERS` is set) and the embedded
 * file-backed log (`lib/stream/embedded/`). Messages with the same key go to
 * the same partition (Kafka's murmur2 default partitioner), offsets grow by one
 * per message within a partition, and a consumer group resumes from its
 * committed offsets.
 *
 * @module
 */

/** A message to publish. */
export interface OutgoingMessage {
  /** Partitioning key: the quote's symbol. */
  key: string;
  /** The encoded event (JSON text). */
  value: string;
}

/** A consumed message and its stream coordinates. */
export interface StreamMessage {
  /** Topic it was read from. */
  topic: string;
  /** Partition it was read from. */
  partition: number;
  /** Its offset within the partition. */
  offset: number;
  /** Its key, or `null` when it has none. */
  readonly key: string | null;
  /** Its value as text. */
  readonly value: string;
  /**
   * Its key's UTF-8 bytes as the stream read them, when it reads bytes
   * (Kafka); left out by a stream that holds text (the embedded one). A
   * message that has them decodes `key` from them only when it is read.
   */
  readonly keyBytes?: Uint8Array | null;
  /**
   * Its value's UTF-8 bytes as the stream read them, when it reads bytes
   * (Kafka); left out by a stream that holds text (the embedded one). A
   * message that has them decodes `value` from them only when it is read,
   * so that landing copies the bytes and never decodes them on the event
   * loop.
   */
  readonly valueBytes?: Uint8Array;
  /** The record's timestamp in epoch milliseconds. */
  timestamp: number;
}

/** Messages of one partition, in offset order. */
export interface MessageBatch {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** The messages, offsets ascending. */
  messages: StreamMessage[];
}

/** The next offset to read in one partition (Kafka's commit convention). */
export interface PartitionOffset {
  /** Partition. */
  partition: number;
  /** Next offset to read: one past the last message handled. */
  offset: number;
}

/** Publishes messages durably. */
export interface StreamProducer {
  /**
   * Publishes messages; resolves once the stream has durably accepted all of
   * them (Kafka: acks=all; embedded: written and fsynced).
   */
  send(messages: OutgoingMessage[]): Promise<void>;
  /** Flushes and releases the producer. */
  close(): Promise<void>;
}

/** What a consumer calls while it runs. */
export interface ConsumerHandlers {
  /** Called for each batch; the next batch of that partition waits for it. */
  onBatch(batch: MessageBatch): Promise<void>;
  /**
   * Called before partitions are taken away (rebalance or stop): anything not
   * yet committed for them must be flushed and committed, or dropped.
   */
  onRevoked(partitions: number[]): Promise<void>;
}

/** Reads a topic as a member of a consumer group. */
export interface StreamConsumer {
  /** Runs until {@linkcode StreamConsumer.stop}; rejects on a fatal error. */
  run(handlers: ConsumerHandlers): Promise<void>;
  /** Commits offsets for the group. Call only after the data is durable. */
  commit(offsets: PartitionOffset[]): Promise<void>;
  /** The start of each partition now: its oldest offset still kept (retention). */
  startOffsets(): Promise<PartitionOffset[]>;
  /** The end of each partition now: the offset the next message will get. */
  endOffsets(): Promise<PartitionOffset[]>;
  /** The group's committed offsets (partitions never committed are left out). */
  committedOffsets(): Promise<PartitionOffset[]>;
  /** Stops {@linkcode StreamConsumer.run}, revoking every partition first. */
  stop(): Promise<void>;
}

/** A topic on a stream. */
export interface Stream {
  /** Human-readable location, e.g. `kafka://localhost:9092` (no credentials). */
  readonly location: string;
  /** The topic's name. */
  readonly topic: string;
  /** Creates the topic if it does not exist. */
  ensureTopic(): Promise<void>;
  /**
   * The identity of this log, e.g. `kafka:<cluster id>` or
   * `embedded:<uuid>`. Offsets are unique only within one log: two clusters,
   * or an embedded stream deleted and created again, reuse them. So every
   * landed event carries this identity beside its topic, partition and offset.
   */
  identity(): Promise<string>;
  /**
   * The last `count` messages of each partition, read back from its end
   * without a consumer group's offsets: the cost follows `count` and the
   * partition count, never the length of the history. A partition holding
   * fewer messages gives them all; a topic that does not exist yet gives
   * none.
   *
   * @param count Most messages to read from each partition.
   * @returns One batch per partition, partitions ascending, offsets ascending.
   * @throws {RangeError} When `count` is not a positive integer.
   */
  lastMessages(count: number): Promise<MessageBatch[]>;
  /** Opens a producer. */
  producer(): Promise<StreamProducer>;
  /** Opens a consumer in `groupId`. */
  consumer(groupId: string): Promise<StreamConsumer>;
}

/**
 * Checks the `count` of {@linkcode Stream.lastMessages}.
 *
 * @throws {RangeError} When it is not a positive integer.
 */
export function checkTailCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(
      `Cannot read the stream's last messages as 'count' must be a positive integer: current value is ${count}`,
    );
  }
}
