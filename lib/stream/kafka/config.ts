/**
 * The kafkajs settings this pipeline runs with, and the checks of what a
 * user configures: the broker list, topic names, a new topic's replication,
 * the producer's and the consumer's settings, and how long admin reads retry.
 *
 * @module
 */
import {
  type ConsumerConfig,
  Partitioners,
  type ProducerConfig,
  type RetryOptions,
} from "kafkajs";

/** Retries of admin reads (offsets, cluster id): about 25 s in all, for a cluster still electing its coordinators. */
export const ADMIN_RETRY = { maxAttempts: 8, baseMs: 200, maxMs: 5_000 };

/** How a new topic is replicated on a cluster of some brokers. */
export interface TopicReplication {
  /** Replicas of each partition: the configured number, at most one per broker. */
  replicationFactor: number;
  /** The topic's `min.insync.replicas`: 2 with three replicas or more, else the broker's default. */
  minInsyncReplicas?: number;
  /** Whether the configured number was more than the brokers. */
  capped: boolean;
}

/**
 * The replication of a topic created with `configured` replicas on a
 * cluster of `brokers`: as many replicas as configured, capped at the
 * brokers (a single development broker takes 1), and with three or more, a
 * write acknowledged by all (`acks=all`) needs two in sync, so that one
 * broker can fail without losing an acknowledged event or stopping writes.
 *
 * @param configured The replication factor asked for (`KAFKA_REPLICATION_FACTOR`).
 * @param brokers The cluster's brokers.
 * @returns The replication factor, `min.insync.replicas`, and whether it was capped.
 */
export function topicReplication(
  configured: number,
  brokers: number,
): TopicReplication {
  const replicationFactor = Math.max(1, Math.min(configured, brokers));
  return {
    replicationFactor,
    ...(replicationFactor >= 3 ? { minInsyncReplicas: 2 } : {}),
    capped: replicationFactor < configured,
  };
}

/** A legal Kafka topic name. */
export const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

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
 * import { parseBrokers } from "./config.ts";
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
 * comes from `KafkaStream.ensureTopic()` with the partition count we
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
