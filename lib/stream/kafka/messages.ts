/**
 * Conversions between the stream seam's messages and kafkajs's: keys and
 * values as UTF-8 bytes, decoded to text when read, offsets and timestamps
 * as safe integers.
 *
 * @module
 */
import type { KafkaMessage, Message } from "kafkajs";
import type {
  MessageBatch,
  OutgoingMessage,
  StreamMessage,
} from "../stream.ts";

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

/** Decodes the keys and values a message is asked for. */
const decoder = new TextDecoder();

/**
 * A consumed Kafka message: its key and value stay the bytes kafkajs read
 * (views of the fetch response, not copies) and are decoded to text only
 * when {@linkcode KafkaStreamMessage.key} or
 * {@linkcode KafkaStreamMessage.value} is read, once.
 */
export class KafkaStreamMessage implements StreamMessage {
  /** Topic. */
  readonly topic: string;
  /** Partition. */
  readonly partition: number;
  /** Offset. */
  readonly offset: number;
  /** Record timestamp, epoch milliseconds. */
  readonly timestamp: number;
  /** The key's bytes, or `null` when it has none. */
  readonly keyBytes: Uint8Array | null;
  /** The value's bytes; empty for a tombstone (a null value). */
  readonly valueBytes: Uint8Array;
  #key: string | null | undefined;
  #value: string | undefined;

  /**
   * Wraps a kafkajs message's coordinates and bytes.
   *
   * @param topic Topic.
   * @param partition Partition.
   * @param offset Offset.
   * @param timestamp Record timestamp, epoch milliseconds.
   * @param keyBytes The key's bytes, or `null`.
   * @param valueBytes The value's bytes.
   */
  constructor(
    topic: string,
    partition: number,
    offset: number,
    timestamp: number,
    keyBytes: Uint8Array | null,
    valueBytes: Uint8Array,
  ) {
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
    this.keyBytes = keyBytes;
    this.valueBytes = valueBytes;
  }

  /** The key as UTF-8 text, or `null`. */
  get key(): string | null {
    if (this.#key === undefined) {
      this.#key = this.keyBytes === null ? null : decoder.decode(this.keyBytes);
    }
    return this.#key;
  }

  /** The value as UTF-8 text (the empty string for a tombstone). */
  get value(): string {
    return this.#value ??= decoder.decode(this.valueBytes);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Turns a kafkajs batch's messages into a {@linkcode MessageBatch}: offsets
 * and timestamps from strings to numbers, keys and values kept as bytes and
 * decoded as UTF-8 text when read ({@linkcode KafkaStreamMessage}; a null
 * value, a tombstone, is empty).
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
  const converted: StreamMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    converted[i] = new KafkaStreamMessage(
      topic,
      partition,
      toNumber(message.offset, "offset"),
      toNumber(message.timestamp, "timestamp"),
      message.key,
      message.value ?? EMPTY,
    );
  }
  return { topic, partition, messages: converted };
}

/**
 * Reads one of Kafka's decimal strings (offset, timestamp) as a number.
 *
 * @throws {RangeError} When it is not a non-negative safe integer.
 */
export function toNumber(text: string, name: string): number {
  // Digit by digit: exact up to the largest safe integer, and any larger
  // value comes out at 2 ** 53 or above, so the check below refuses it.
  let value = text.length === 0 ? -1 : 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) {
      value = -1;
      break;
    }
    value = value * 10 + digit;
  }
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `Cannot read the Kafka message as its '${name}' must be a non-negative safe integer: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}
