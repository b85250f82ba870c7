/**
 * The embedded stream's producer: appends each send's records to their
 * partitions' logs and resolves once they are fsynced, like acks=all. It
 * holds the topic's lock, so one producer writes a topic at a time.
 *
 * @module
 */
import { partitionFor } from "../partitioner.ts";
import type { OutgoingMessage, StreamProducer } from "../stream.ts";
import type { LogRecord, PartitionLog } from "./partition_log.ts";

/** Writes the partition logs of one topic. */
export class EmbeddedProducer implements StreamProducer {
  #logs: PartitionLog[];
  #lock: Deno.FsFile;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  /** Takes the open logs, one per partition, and the topic's held lock. */
  constructor(logs: PartitionLog[], lock: Deno.FsFile) {
    this.#logs = logs;
    this.#lock = lock;
  }

  /** Appends the messages, in order, and resolves once they are durable. */
  send(messages: OutgoingMessage[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Error("Cannot send as the producer is closed"));
    }
    const run = this.#queue.then(() => this.#write(messages));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #write(messages: OutgoingMessage[]): Promise<void> {
    const encoder = new TextEncoder();
    const lines = new Map<number, string[]>();
    const timestamp = Date.now();
    for (const message of messages) {
      const partition = partitionFor(message.key, this.#logs.length);
      const log = this.#logs[partition];
      const record: LogRecord = {
        o: log.nextOffset++,
        ts: timestamp,
        k: message.key,
        v: message.value,
      };
      let batch = lines.get(partition);
      if (!batch) lines.set(partition, batch = []);
      batch.push(JSON.stringify(record));
    }
    await Promise.all(
      [...lines].map(async ([partition, batch]) => {
        const log = this.#logs[partition];
        await log.append(encoder.encode(batch.join("\n") + "\n"));
        await log.sync();
      }),
    );
  }

  /** Waits for sends in progress, then releases the logs and the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    for (const log of this.#logs) log.close();
    this.#lock.close();
  }
}
