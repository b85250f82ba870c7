/**
 * The embedded stream's producer: appends each send's records to their
 * partitions' logs and resolves once they are fsynced, like acks=all. It
 * holds the topic's lock, so one producer writes a topic at a time, and it
 * applies retention (`retention.ts`): when it opens, after a segment rolls,
 * and at most once a minute as it sends.
 *
 * @module
 */
import { partitionFor } from "../partitioner.ts";
import type { OutgoingMessage, StreamProducer } from "../stream.ts";
import type { PartitionLog } from "./partition_log.ts";
import type { LogRecord } from "./records.ts";
import { lowestCommitted } from "./retention.ts";
import { logger } from "../../runtime/log.ts";

const log = logger("stream");

/** How often sends apply retention when no segment rolls, in ms of the clock. */
const RETENTION_CHECK_MS = 60_000;

/** What the producer writes and how it keeps it. */
export interface ProducerSetup {
  /** The open logs, one per partition. */
  logs: PartitionLog[];
  /** The topic's held lock. */
  lock: Deno.FsFile;
  /** The directory of the consumer groups' committed offsets. */
  offsetsDir: string;
  /** The clock, epoch ms: records' timestamps, segment ages, retention. */
  now: () => number;
}

/** Writes the partition logs of one topic. */
export class EmbeddedProducer implements StreamProducer {
  #logs: PartitionLog[];
  #lock: Deno.FsFile;
  #offsetsDir: string;
  #now: () => number;
  #queue: Promise<void>;
  #closed = false;
  #retainedAt = -Infinity;

  /** Takes the open logs and the topic's held lock, and applies retention once. */
  constructor(setup: ProducerSetup) {
    this.#logs = setup.logs;
    this.#lock = setup.lock;
    this.#offsetsDir = setup.offsetsDir;
    this.#now = setup.now;
    this.#queue = this.#applyRetention();
  }

  /** Appends the messages, in order, and resolves once they are durable. */
  send(messages: OutgoingMessage[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Error("Cannot send as the producer is closed"));
    }
    const run = this.#queue.then(() => this.#write(messages));
    // Retention runs after the send has resolved: its failure is logged, and
    // never fails a send whose records are durable.
    this.#queue = run.then(
      (rolled) =>
        rolled || this.#now() - this.#retainedAt >= RETENTION_CHECK_MS
          ? this.#applyRetention()
          : undefined,
      () => {},
    );
    return run.then(() => {});
  }

  /** Writes and syncs the records; whether a segment rolled. */
  async #write(messages: OutgoingMessage[]): Promise<boolean> {
    const encoder = new TextEncoder();
    const lines = new Map<number, { first: number; records: string[] }>();
    const timestamp = this.#now();
    for (const message of messages) {
      const partition = partitionFor(message.key, this.#logs.length);
      const target = this.#logs[partition];
      const record: LogRecord = {
        o: target.nextOffset++,
        ts: timestamp,
        k: message.key,
        v: message.value,
      };
      let batch = lines.get(partition);
      if (!batch) {
        lines.set(partition, batch = { first: record.o, records: [] });
      }
      batch.records.push(JSON.stringify(record));
    }
    const rolled = await Promise.all(
      [...lines].map(async ([partition, { first, records }]) => {
        const target = this.#logs[partition];
        const rolled = await target.append(
          encoder.encode(records.join("\n") + "\n"),
          first,
          timestamp,
        );
        await target.sync();
        return rolled;
      }),
    );
    return rolled.includes(true);
  }

  async #applyRetention(): Promise<void> {
    const now = this.#now();
    this.#retainedAt = now;
    try {
      const committed = await lowestCommitted(
        this.#offsetsDir,
        this.#logs.length,
      );
      for (const partitionLog of this.#logs) {
        await partitionLog.applyRetention(
          now,
          committed[partitionLog.partition],
        );
      }
    } catch (error) {
      log.warn("stream retention failed; segments are kept until it succeeds", {
        error,
      });
    }
  }

  /** Waits for sends in progress, then releases the logs and the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    for (const partitionLog of this.#logs) partitionLog.close();
    this.#lock.close();
  }
}
