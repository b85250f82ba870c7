/**
 * The Kafka producer: idempotent, `acks=all`, one request in flight. A send
 * that fails while the brokers are unreachable is sent again, the same
 * messages, for about two minutes before the producer gives up.
 *
 * @module
 */
import type { Producer } from "kafkajs";
import { logger } from "../../runtime/log.ts";
import { RetriableError, retry } from "../../runtime/retry.ts";
import type { OutgoingMessage, StreamProducer } from "../stream.ts";
import { streamError } from "./errors.ts";
import { toKafkaMessages } from "./messages.ts";

const log = logger("kafka");

/**
 * A send that fails while the brokers are unreachable (one restarting, say)
 * is tried again with the same messages, for about two minutes in all before
 * the producer gives up. The idempotent producer keeps their sequence numbers,
 * so the broker writes a batch it already has only once.
 */
const SEND_RETRY = { maxAttempts: 12, baseMs: 500, maxMs: 15_000 };

/** A connected kafkajs producer writing one topic. */
export class KafkaProducer implements StreamProducer {
  readonly #producer: Producer;
  readonly #topic: string;
  readonly #location: string;
  #closed = false;

  /** Wraps a connected kafkajs producer of `topic` on the cluster at `location`. */
  constructor(producer: Producer, topic: string, location: string) {
    this.#producer = producer;
    this.#topic = topic;
    this.#location = location;
  }

  /** Sends the messages with acks=all, retrying the same messages while the brokers are unreachable. */
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

  /** Disconnects the producer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#producer.disconnect();
  }
}
