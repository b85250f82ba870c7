/**
 * The baselines `deno task bench` compares the pipeline with, written the
 * plain way with the same clients: a kafkajs send loop, a kafkajs
 * consume-only loop, and a consumer that writes each event as its own S3
 * object (what naive pipelines do).
 *
 * @module
 */
import { Kafka, type KafkaMessage, logLevel, Partitioners } from "kafkajs";
import { muteKafkajsTimerWarning } from "../lib/stream/kafka/log.ts";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

/** Where the baselines connect. */
export interface BaselineServices {
  /** Kafka bootstrap brokers. */
  brokers: string[];
  /** S3 endpoint, bucket and credentials (the one-object-per-event baseline). */
  s3: {
    endpoint: string;
    region: string;
    bucket: string;
    accessKeyId: string;
    secretAccessKey: string;
  };
}

/** A measured run: events and the seconds they took. */
export interface Rate {
  /** Events handled. */
  events: number;
  /** Seconds from the first send (or subscription) to the last event. */
  seconds: number;
  /** Events per second. */
  perSecond: number;
}

function rate(events: number, seconds: number): Rate {
  return { events, seconds, perSecond: events / seconds };
}

function kafka(services: BaselineServices): Kafka {
  muteKafkajsTimerWarning();
  return new Kafka({
    clientId: "bench-baseline",
    brokers: services.brokers,
    logLevel: logLevel.NOTHING,
  });
}

/**
 * Sends `lines` to `topic`, keyed by `keyOf`, in batches of `batchSize`, one
 * batch at a time, with the pipeline's producer settings: idempotent, one
 * request in flight, `acks=all`, the default partitioner.
 *
 * @returns The rate, from the first send to the last acknowledgement.
 */
export async function rawProduce(
  services: BaselineServices,
  topic: string,
  lines: string[],
  keyOf: (line: string) => string,
  batchSize = 500,
): Promise<Rate> {
  const producer = kafka(services).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    const started = performance.now();
    for (let i = 0; i < lines.length; i += batchSize) {
      await producer.send({
        topic,
        acks: -1,
        messages: lines.slice(i, i + batchSize).map((value) => ({
          key: keyOf(value),
          value,
        })),
      });
    }
    return rate(lines.length, (performance.now() - started) / 1000);
  } finally {
    await producer.disconnect();
  }
}

/**
 * Reads `events` messages of `topic` from the beginning in a new group and
 * does nothing with them.
 *
 * @returns The rate, from the subscription (group join included) to the last message.
 */
export async function rawConsume(
  services: BaselineServices,
  topic: string,
  events: number,
): Promise<Rate> {
  const consumer = kafka(services).consumer({
    groupId: `bench-raw-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  try {
    const started = performance.now();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let seen = 0;
    let finished = 0;
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          seen += batch.messages.length;
          const last = batch.messages.at(-1);
          if (last) resolveOffset(last.offset);
          await heartbeat();
          if (seen >= events && !finished) {
            finished = performance.now();
            resolve();
          }
        },
      }).catch(reject);
    });
    return rate(seen, (finished - started) / 1000);
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Writes each message of `topic` as its own S3 object, one PUT at a time
 * before the next message (offsets committed by kafkajs as it goes), for
 * `seconds` seconds.
 *
 * @returns The rate, from the first message to the last object written.
 */
export async function objectPerEvent(
  services: BaselineServices,
  topic: string,
  prefix: string,
  seconds: number,
): Promise<Rate> {
  const s3 = new S3Client({
    endpoint: services.s3.endpoint,
    region: services.s3.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: services.s3.accessKeyId,
      secretAccessKey: services.s3.secretAccessKey,
    },
  });
  const consumer = kafka(services).consumer({
    groupId: `bench-object-per-event-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  let first = 0;
  let last = 0;
  let written = 0;
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      let done = false;
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (done) return;
          first ||= performance.now();
          await putEvent(s3, services.s3.bucket, prefix, partition, message);
          written++;
          last = performance.now();
          if (last - first >= seconds * 1000) {
            done = true;
            resolve();
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
    s3.destroy();
  }
  return rate(written, (last - first) / 1000);
}

async function putEvent(
  s3: S3Client,
  bucket: string,
  prefix: string,
  partition: number,
  message: KafkaMessage,
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: `${prefix}/partition=${partition}/${message.offset}.json`,
      Body: message.value ?? undefined,
      ContentType: "application/json",
    }),
  );
}
