/**
 * The lake sink: the consumer's handlers for landing. It only handles the
 * lifecycle (batch, rotate, commit, revoke) and keeps one
 * {@linkcode PartitionWriter} per partition, which owns buffering and
 * upload. Offsets are committed only after a flush made every object
 * durable; a failed flush keeps its buffer, backs off and writes the same
 * keys again, committing nothing meanwhile.
 *
 * @module
 */
import type { Lake } from "../lake/lake.ts";
import { logger } from "../runtime/log.ts";
import { backoffDelay, FatalError, sleep } from "../runtime/retry.ts";
import type {
  ConsumerHandlers,
  MessageBatch,
  PartitionOffset,
  StreamConsumer,
} from "../stream/stream.ts";
import {
  type FlushLimits,
  type FlushResult,
  PartitionWriter,
  type RotationReason,
} from "./partition_writer.ts";

/** Options for {@linkcode LakeSink}. */
export interface LakeSinkOptions {
  /** The consumer whose offsets the sink commits. */
  consumer: StreamConsumer;
  /** Where events land. */
  lake: Lake;
  /** Identity of the log being read (see `Stream.identity()`). */
  streamId: string;
  /** Rotation limits of every partition's batch. */
  limits: FlushLimits;
  /** Stops retries on shutdown; nothing is committed after it aborts. */
  signal?: AbortSignal;
  /**
   * How often the age limit is checked, in milliseconds.
   *
   * @default {250}
   */
  tickMs?: number;
  /**
   * Clock in epoch milliseconds, injected by tests.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** Running totals of a sink. */
export interface LandingStats {
  /** Messages consumed. */
  consumed: number;
  /** Valid events landed (and committed). */
  events: number;
  /** Invalid messages dead-lettered (and committed). */
  deadLetters: number;
  /** Objects written, dead letters included. */
  objects: number;
  /** Compressed bytes written. */
  bytes: number;
  /** Flush attempts that failed and were retried. */
  retries: number;
}

const log = logger("landing");

/** Lands consumed batches in the lake and commits offsets after each durable write. */
export class LakeSink implements ConsumerHandlers {
  /** Running totals. */
  readonly stats: LandingStats = {
    consumed: 0,
    events: 0,
    deadLetters: 0,
    objects: 0,
    bytes: 0,
    retries: 0,
  };
  #options: Required<Omit<LakeSinkOptions, "signal">> & {
    signal?: AbortSignal;
  };
  #writers = new Map<number, PartitionWriter>();
  #serial = new Map<number, Promise<void>>();
  #committed = new Map<number, number>();
  #consumed = new Map<number, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #failure: Promise<never>;
  #fail!: (error: unknown) => void;

  /** Creates the sink; call {@linkcode LakeSink.start} to begin age checks. */
  constructor(options: LakeSinkOptions) {
    const { tickMs = 250, now = Date.now } = options;
    this.#options = { ...options, tickMs, now };
    this.#failure = new Promise<never>((_, reject) => (this.#fail = reject));
    this.#failure.catch(() => {});
  }

  /** Rejects when a background flush fails for good (e.g. permission denied). */
  get failure(): Promise<never> {
    return this.#failure;
  }

  /** Offsets committed so far, by partition. */
  get committed(): PartitionOffset[] {
    return [...this.#committed].map(([partition, offset]) => ({
      partition,
      offset,
    }));
  }

  /** Offsets consumed so far (one past the last message buffered), by partition. */
  get consumed(): PartitionOffset[] {
    return [...this.#consumed].map(([partition, offset]) => ({
      partition,
      offset,
    }));
  }

  /** Starts checking every partition's age limit. */
  start(): void {
    this.#timer ??= setInterval(() => {
      for (const partition of this.#writers.keys()) {
        this.#enqueue(partition, () => this.#maybeFlush(partition, "age"))
          .catch(this.#fail);
      }
    }, this.#options.tickMs);
  }

  /** Stops the age checks. Call after the consumer has stopped. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Buffers a batch and lands it if a rotation limit is reached. */
  onBatch(batch: MessageBatch): Promise<void> {
    return this.#enqueue(batch.partition, async () => {
      let writer = this.#writers.get(batch.partition);
      if (!writer) {
        writer = new PartitionWriter({
          streamId: this.#options.streamId,
          topic: batch.topic,
          partition: batch.partition,
          lake: this.#options.lake,
          limits: this.#options.limits,
          now: this.#options.now,
        });
        this.#writers.set(batch.partition, writer);
      }
      writer.add(batch.messages);
      this.stats.consumed += batch.messages.length;
      this.#consumed.set(batch.partition, writer.lastOffset + 1);
      await this.#maybeFlush(batch.partition);
    });
  }

  /**
   * Lands what is buffered for the partitions being taken away, then forgets
   * them; if landing fails, the buffer is dropped uncommitted and the next
   * owner reads it again from the committed offset.
   */
  async onRevoked(partitions: number[]): Promise<void> {
    await Promise.all(
      partitions.map((partition) =>
        this.#enqueue(partition, async () => {
          const writer = this.#writers.get(partition);
          this.#writers.delete(partition);
          if (!writer || writer.size === 0) return;
          try {
            await this.#flush(writer, "revoke", 1);
          } catch (error) {
            // A lasting failure has already ended the run and is reported
            // once, by the entry point; another failure is news.
            log[isFatal(error) ? "debug" : "warn"](
              "dropped an unlanded batch of a revoked partition",
              { partition, events: writer.size, error },
            );
          }
        })
      ),
    );
  }

  /** Lands every open batch now (used when a bounded run drains). */
  async flushAll(): Promise<void> {
    await Promise.all(
      [...this.#writers.keys()].map((partition) =>
        this.#enqueue(partition, async () => {
          const writer = this.#writers.get(partition);
          if (writer && writer.size > 0) await this.#flush(writer, "drain");
        })
      ),
    );
  }

  #enqueue(partition: number, work: () => Promise<void>): Promise<void> {
    const run = (this.#serial.get(partition) ?? Promise.resolve()).then(work);
    this.#serial.set(partition, run.catch(() => {}));
    return run;
  }

  async #maybeFlush(partition: number, only?: RotationReason): Promise<void> {
    const writer = this.#writers.get(partition);
    const reason = writer?.rotationReason();
    if (!writer || !reason || (only && reason !== only)) return;
    await this.#flush(writer, reason);
  }

  /** Lands a writer's batch, retrying with backoff, then commits its offset. */
  async #flush(
    writer: PartitionWriter,
    reason: RotationReason,
    attempts = Infinity,
  ): Promise<void> {
    const { signal, consumer } = this.#options;
    let result: FlushResult | undefined;
    for (let attempt = 0;; attempt++) {
      try {
        // Once landed, a retry only repeats the commit.
        result ??= await writer.flush(reason);
        await consumer.commit([{
          partition: writer.partition,
          offset: result.nextOffset,
        }]);
        this.#committed.set(writer.partition, result.nextOffset);
        this.stats.events += result.events;
        this.stats.deadLetters += result.deadLetters;
        this.stats.objects += result.keys.length;
        this.stats.bytes += result.bytes;
        return;
      } catch (error) {
        if (isFatal(error) || attempt + 1 >= attempts || signal?.aborted) {
          throw error;
        }
        this.stats.retries++;
        const delay = backoffDelay(attempt, { baseMs: 250, maxMs: 10_000 });
        log.warn("landing failed; retrying, nothing committed meanwhile", {
          partition: writer.partition,
          attempt: attempt + 1,
          retry_in_ms: delay,
          error,
        });
        await sleep(delay, signal);
      }
    }
  }
}

/**
 * Failures that retrying cannot fix: wrong credentials or permissions, a
 * read-only or misconfigured lake (the lakes throw these as `FatalError`).
 */
function isFatal(error: unknown): boolean {
  return error instanceof FatalError ||
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof RangeError;
}
