/**
 * Publishing: events of any kind from a source to the stream (the topic of
 * the source's kind, which the caller opened), keyed by symbol, in small
 * batches (sent when full or after a short linger), each acknowledged by the
 * stream before the next is sent. Inputs the source rejects are written to the
 * lake's dead-letter prefix with their reason, under the source's name
 * (`dead-letter/source=<name>/`), so each source's rejects stay apart.
 *
 * @module
 */
import { DEAD_LETTER_PREFIX } from "../lake/keys.ts";
import type { Lake } from "../lake/lake.ts";
import { encodeLines } from "../lake/ndjson.ts";
import { logger } from "../runtime/log.ts";
import type { Source, SourceReject } from "./source.ts";
import type { OutgoingMessage, StreamProducer } from "../stream/stream.ts";

/** Options for {@linkcode publish}. */
export interface PublishOptions {
  /** Where events come from. */
  source: Source;
  /** Where they go. */
  producer: StreamProducer;
  /** Where the source's rejects go (dead-letter prefix). */
  lake: Lake;
  /** Stops the source; what was read is still sent. */
  signal: AbortSignal;
  /**
   * Most messages per send.
   *
   * @default {500}
   */
  batchSize?: number;
  /** Most events to publish; unbounded by default. */
  limit?: number;
  /**
   * Longest an event waits for its batch to fill, in milliseconds.
   *
   * @default {20}
   */
  lingerMs?: number;
}

/** Totals of a publishing run. */
export interface PublishStats {
  /** Messages acknowledged by the stream. */
  published: number;
  /** Source inputs dead-lettered. */
  rejected: number;
}

const log = logger("producer");
const REJECTS_PER_OBJECT = 1000;

/**
 * Publishes every event of the source until it ends or the signal aborts.
 *
 * @param options Source, producer, lake and batching.
 * @param stats Totals, updated as messages are acknowledged (for progress lines).
 * @returns The totals.
 */
export async function publish(
  options: PublishOptions,
  stats: PublishStats = { published: 0, rejected: 0 },
): Promise<PublishStats> {
  const {
    source,
    producer,
    lake,
    signal,
    limit = Infinity,
    batchSize = 500,
    lingerMs = 20,
  } = options;
  let taken = 0;
  let firstReject: SourceReject | undefined;
  let rejects = 0;
  const deadLetters = new SourceDeadLetters(lake, source.name);
  let batch: OutgoingMessage[] = [];
  let sending: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed: unknown;

  const send = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0) return sending;
    const messages = batch;
    batch = [];
    sending = sending.then(async () => {
      if (failed) return;
      try {
        await producer.send(messages);
        stats.published += messages.length;
      } catch (error) {
        failed = error;
      }
    });
    return sending;
  };

  const onReject = async (reject: SourceReject) => {
    stats.rejected++;
    rejects++;
    firstReject ??= reject;
    log.warn("rejected a source input", {
      position: reject.position,
      field: reject.rejection.field,
      rule: reject.rejection.rule,
      value: reject.rejection.value,
    });
    await deadLetters.add(reject);
  };

  try {
    for await (const event of source.events(signal, onReject)) {
      if (failed) break;
      batch.push({ key: event.symbol, value: JSON.stringify(event) });
      // Stop at the limit now: a polling source may not yield again for a long time.
      if (++taken >= limit) break;
      if (batch.length >= batchSize) {
        // Backpressure: wait for the previous send before filling another batch.
        await sending;
        send();
      } else {
        timer ??= setTimeout(send, lingerMs);
      }
    }
    await send();
  } finally {
    clearTimeout(timer);
    await sending;
    await deadLetters.flush();
  }
  if (failed) throw failed;
  if (taken === 0 && firstReject) {
    throw new RejectedInputError(source.name, rejects, firstReject);
  }
  return stats;
}

/** Every input of a source was rejected: the run published nothing. */
export class RejectedInputError extends Error {
  /**
   * @param source The source's name.
   * @param count How many inputs were rejected.
   * @param first The first of them.
   */
  constructor(source: string, count: number, first: SourceReject) {
    const { field, rule, value } = first.rejection;
    super(
      `Cannot publish from ${source} as every one of its ${count} inputs was rejected, the first at ${first.position}: '${field}' ${rule}: current value is ${value} (all are in the lake under ${DEAD_LETTER_PREFIX}/source=${source}/)`,
    );
    this.name = "RejectedInputError";
  }
}

/** Buffers a source's rejects and writes them under `dead-letter/source=<name>/`. */
class SourceDeadLetters {
  #lake: Lake;
  #source: string;
  #lines: string[] = [];
  #run = `${new Date().toISOString().replace(/[-:.]/g, "")}-${
    crypto.randomUUID().slice(0, 8)
  }`;
  #sequence = 0;

  constructor(lake: Lake, source: string) {
    this.#lake = lake;
    this.#source = source;
  }

  async add(reject: SourceReject): Promise<void> {
    this.#lines.push(JSON.stringify({ ...reject, source: this.#source }));
    if (this.#lines.length >= REJECTS_PER_OBJECT) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#lines.length === 0) return;
    const date = new Date().toISOString().slice(0, 10);
    const key =
      `${DEAD_LETTER_PREFIX}/source=${this.#source}/date=${date}/${this.#run}-${
        String(this.#sequence++).padStart(6, "0")
      }.ndjson.gz`;
    await this.#lake.put(key, await encodeLines(this.#lines));
    log.info("dead-lettered source inputs", { key, count: this.#lines.length });
    this.#lines = [];
  }
}
