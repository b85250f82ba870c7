/**
 * The last messages of each partition of a Kafka topic, for the stream seam's
 * `lastMessages`. kafkajs reads only as a member of a consumer group, so the
 * read uses a group of its own: the admin client reads each partition's high
 * watermark, the consumer joins, seeks each partition to `count` before it
 * and reads up to it, and the group is deleted after. It commits nothing and
 * never touches the pipeline's own group. (kafkajs's admin `setOffsets` would
 * do the seek too, but it joins the group itself and waits out a whole fetch,
 * about 5 s.)
 *
 * @module
 */
import type { Admin, Kafka, RetryOptions } from "kafkajs";
import { logger } from "../../runtime/log.ts";
import {
  FatalError,
  RetriableError,
  retry as retrying,
} from "../../runtime/retry.ts";
import type { MessageBatch, StreamMessage } from "../stream.ts";
import { consumerConfig } from "./config.ts";
import { streamError } from "./errors.ts";
import { fromKafkaBatch, toNumber } from "./messages.ts";

const log = logger("kafka");

/** Options of {@linkcode readTail}. */
export interface TailOptions {
  /** Most messages to read from each partition. */
  count: number;
  /** Prefix of the group's name, e.g. the client id; a random suffix follows. */
  groupPrefix: string;
  /** The cluster's location, for error messages. */
  location: string;
  /** Retries of the admin and consumer requests; kafkajs's defaults when unset. */
  retry?: RetryOptions;
  /**
   * How long the whole read may take, in milliseconds.
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

/** One partition's part of the read: offsets `[from, until)`. */
interface Range {
  partition: number;
  from: number;
  until: number;
}

/**
 * Reads the last `count` messages of each partition of `topic`: those below
 * the high watermark read at the start, so messages published meanwhile are
 * left out.
 *
 * @param kafka The client.
 * @param topic The topic.
 * @param options The count, the group's prefix, retries and the deadline.
 * @returns One batch per partition, partitions ascending; none when the topic does not exist.
 * @throws {RetriableError} When the cluster cannot be reached, or the read outlasts `timeoutMs`.
 * @throws {FatalError} When the cluster refuses a request.
 */
export async function readTail(
  kafka: Kafka,
  topic: string,
  options: TailOptions,
): Promise<MessageBatch[]> {
  const { count, retry } = options;
  const admin = kafka.admin(retry === undefined ? {} : { retry });
  try {
    await admin.connect();
    // A topic created a moment ago may not have told every broker its
    // leaders yet ("not the leader for that topic-partition"): ask again.
    const ranges = await retrying(
      () => partitionRanges(admin, topic, count, options.location),
      { maxAttempts: 6, baseMs: 250, maxMs: 2_000 },
    );
    if (ranges === null) return [];
    const messages = new Map(
      ranges.map((range) => [range.partition, [] as StreamMessage[]]),
    );
    const wanted = ranges.filter((range) => range.from < range.until);
    if (wanted.length > 0) {
      const groupId = `${options.groupPrefix}-tail-${crypto.randomUUID()}`;
      try {
        await consumeRanges(kafka, topic, groupId, wanted, messages, options);
      } catch (error) {
        if (error instanceof RetriableError || error instanceof FatalError) {
          throw error;
        }
        throw streamError(
          `read the last messages of topic '${topic}' on ${options.location}`,
          error,
        );
      } finally {
        await admin.deleteGroups([groupId]).catch((error) =>
          log.debug("could not delete the tail reader's group", {
            groupId,
            error,
          })
        );
      }
    }
    return ranges.map(({ partition }) => ({
      topic,
      partition,
      messages: messages.get(partition)!,
    }));
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Each partition's last `count` offsets, or null when the topic does not exist. */
async function partitionRanges(
  admin: Admin,
  topic: string,
  count: number,
  location: string,
): Promise<Range[] | null> {
  try {
    // Asking a missing topic's offsets would retry for seconds: look first.
    if (!(await admin.listTopics()).includes(topic)) return null;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets
      .map(({ partition, low, high }) => {
        const until = toNumber(high, "high watermark");
        return {
          partition,
          from: Math.max(toNumber(low, "log start offset"), until - count),
          until,
        };
      })
      .sort((a, b) => a.partition - b.partition);
  } catch (error) {
    throw streamError(
      `read the offsets of topic '${topic}' on ${location}`,
      error,
    );
  }
}

/** Runs a consumer of `groupId` until every range is read, or the deadline. */
async function consumeRanges(
  kafka: Kafka,
  topic: string,
  groupId: string,
  ranges: Range[],
  messages: Map<number, StreamMessage[]>,
  options: TailOptions,
): Promise<void> {
  const { retry, timeoutMs = 30_000 } = options;
  const until = new Map(ranges.map((r) => [r.partition, r.until]));
  const next = new Map(ranges.map((r) => [r.partition, r.from]));
  const remaining = new Set(until.keys());
  const done = Promise.withResolvers<void>();
  const consumer = kafka.consumer({
    ...consumerConfig(groupId, retry),
    maxWaitTimeInMs: 100,
  });
  const timer = setTimeout(() => {
    done.reject(
      new RetriableError(
        `Cannot read the last messages of topic '${topic}' on ${options.location} as the read took more than ${timeoutMs} ms`,
      ),
    );
  }, timeoutMs);
  const unsubscribe = consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) done.reject(payload.error);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        const end = until.get(batch.partition);
        if (end === undefined || !remaining.has(batch.partition)) {
          return Promise.resolve();
        }
        const list = messages.get(batch.partition)!;
        const converted = fromKafkaBatch(
          batch.topic,
          batch.partition,
          batch.messages,
        );
        for (const message of converted.messages) {
          // Only the range, in order: a fetch from before the seek, or one
          // handed over again, adds nothing.
          if (
            message.offset >= next.get(batch.partition)! &&
            message.offset < end
          ) {
            list.push(message);
            next.set(batch.partition, message.offset + 1);
          }
        }
        if (next.get(batch.partition)! >= end) {
          remaining.delete(batch.partition);
          if (remaining.size === 0) done.resolve();
        }
        return Promise.resolve();
      },
    });
    // run() resolves once the group is joined: the seeks apply from the next fetch.
    for (const { partition, from } of ranges) {
      consumer.seek({ topic, partition, offset: String(from) });
    }
    await done.promise;
  } finally {
    clearTimeout(timer);
    unsubscribe();
    await consumer.disconnect().catch(() => {});
  }
}
