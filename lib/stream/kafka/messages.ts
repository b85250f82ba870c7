/**
 * Conversions between the stream seam's messages and kafkajs's: keys and
 * values as UTF-8 text, offsets and timestamps as safe integers.
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

/**
 * Reads one of Kafka's decimal strings (offset, timestamp) as a number.
 *
 * @throws {RangeError} When it is not a non-negative safe integer.
 */
export function toNumber(text: string, name: string): number {
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
