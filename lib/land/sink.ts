/**
 * The lake sink: the consumer's handlers for landing. It only handles the
 * lifecycle (batch, rotate, commit, revoke) and keeps one
 * {@linkcode PartitionWriter} per partition, which owns buffering and
 * upload, and a pool of workers (./encoder_pool.ts) that validate and gzip
 * off the event loop.
 *
 * A rotation seals the partition's buffer and lands it in the background:
 * the batch handler returns, so the consumer fetches and buffers the next
 * batch while the flush encodes and uploads. A partition's uploads may run
 * side by side, but its commits go one after another, in offset order: a
 * flush commits only once the one before it is committed, so a failed or
 * retrying upload holds back every later commit of its partition. At most
 * `maxPendingFlushes` sealed flushes of a partition wait; beyond that the
 * batch handler waits for the oldest, so a slow lake slows the consumer
 * instead of filling memory.
 *
 * Offsets are committed only after a flush made every object durable; a
 * failed upload keeps its encoded batch, backs off and writes the same keys
 * again, committing nothing meanwhile. A flush that fails for good (a fatal
 * lake error, a failed worker) fails the sink ({@linkcode LakeSink.failure}),
 * and the next batch handed to it is refused with that error.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import { generalRule, type Rejection } from "../contract/rules.ts";
import { UNCOMMITTED_OBJECTS } from "../lake/keys.ts";
import type { Lake } from "../lake/lake.ts";
import { logger } from "../runtime/log.ts";
import { backoffDelay, FatalError, sleep } from "../runtime/retry.ts";
import type {
  ConsumerHandlers,
  MessageBatch,
  PartitionOffset,
  StreamConsumer,
} from "../stream/stream.ts";
import { EncoderPool } from "./encoder_pool.ts";
import {
  type FlushLimits,
  type FlushResult,
  PartitionWriter,
  type RotationReason,
} from "./partition_writer.ts";

/** Options for {@linkcode LakeSink}. */
export interface LakeSinkOptions {
  /**
   * The kind of event the topic carries.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
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
  /**
   * The workers that validate and gzip batches; the sink closes them on
   * {@linkcode LakeSink.stop}.
   *
   * @default {a new EncoderPool(), started by {@linkcode LakeSink.start} or the first flush}
   */
  encoders?: EncoderPool;
  /**
   * Sealed flushes of one partition that may wait to land before the batch
   * handler waits for the oldest.
   *
   * @default {2}
   */
  maxPendingFlushes?: number;
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

/**
 * What a sink landed, counted by why (the metrics read them, lib/ops/): like
 * {@linkcode LandingStats}, only what is committed counts.
 */
export interface LandingTallies {
  /** Objects written, dead letters included, by why their batch was landed. */
  objectsByReason: Partial<Record<RotationReason, number>>;
  /**
   * Dead letters by the field and the rule they broke (the rule without
   * the event's own details, `generalRule`), keyed by both. Past
   * {@linkcode MAX_RULE_TALLIES} pairs, any other one counts under field
   * and rule `other`, so a rule that names its values cannot grow it.
   */
  deadLettersByRule: Map<string, RuleTally>;
}

/** Dead letters that broke one rule of one field. */
export interface RuleTally {
  /** The field, or `event` for the whole event. */
  field: string;
  /** The rule, without the event's own details. */
  rule: string;
  /** How many. */
  count: number;
}

/** Most field and rule pairs a sink tallies apart. */
export const MAX_RULE_TALLIES = 100;

const log = logger("landing");

/** The flushes of one partition sealed and not committed yet. */
interface Pipeline {
  /** Settles once the newest flush is landed and committed; rejects when one failed. */
  tail: Promise<void>;
  /** Each flush still landing, oldest first. */
  pending: Promise<void>[];
}

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
  /** Running totals by reason and rule. */
  readonly tallies: LandingTallies = {
    objectsByReason: {},
    deadLettersByRule: new Map(),
  };
  #options: Required<Omit<LakeSinkOptions, "signal" | "encoders">> & {
    signal?: AbortSignal;
  };
  #writers = new Map<number, PartitionWriter>();
  #pipelines = new Map<number, Pipeline>();
  #serial = new Map<number, Promise<void>>();
  #committed = new Map<number, number>();
  #consumed = new Map<number, number>();
  #encoders: EncoderPool | undefined;
  #stopped = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #failure: Promise<never>;
  #failed: { error: unknown } | undefined;
  #reject!: (error: unknown) => void;

  /** Creates the sink; call {@linkcode LakeSink.start} to begin age checks. */
  constructor(options: LakeSinkOptions) {
    const {
      kind = "quotes",
      tickMs = 250,
      now = Date.now,
      maxPendingFlushes = 2,
      encoders,
    } = options;
    // The loader's discovery relies on it: a partition never has more than
    // UNCOMMITTED_OBJECTS objects written and not committed (lib/lake/keys.ts).
    if (
      !Number.isSafeInteger(maxPendingFlushes) || maxPendingFlushes < 1 ||
      maxPendingFlushes + 1 > UNCOMMITTED_OBJECTS
    ) {
      throw new RangeError(
        `Cannot create the lake sink as 'maxPendingFlushes' must be an integer from 1 to ${
          UNCOMMITTED_OBJECTS - 1
        } (a partition's uncommitted objects are at most it plus the one being sealed): current value is ${maxPendingFlushes}`,
      );
    }
    this.#options = { ...options, kind, tickMs, now, maxPendingFlushes };
    this.#encoders = encoders;
    this.#failure = new Promise<never>((_, reject) => (this.#reject = reject));
    this.#failure.catch(() => {});
  }

  /** Rejects when a background flush fails for good (e.g. permission denied, a failed worker). */
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

  /** Starts the workers, so their start-up is not in the first flush's way, and the age checks. */
  start(): void {
    if (!this.#stopped) this.#encoders ??= new EncoderPool();
    this.#timer ??= setInterval(() => {
      for (const partition of this.#writers.keys()) {
        this.#enqueue(partition, () => this.#maybeFlush(partition, "age"))
          .catch(this.#fail);
      }
    }, this.#options.tickMs);
  }

  /** Stops the age checks and the workers. Call after the consumer has stopped. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopped = true;
    this.#encoders?.close();
  }

  /**
   * Buffers a batch, and starts landing it when a rotation limit is
   * reached; waits only when the partition has too many flushes pending.
   *
   * @throws The error that failed the sink, once it has failed.
   */
  onBatch(batch: MessageBatch): Promise<void> {
    return this.#enqueue(batch.partition, async () => {
      if (this.#failed) throw this.#failed.error;
      let writer = this.#writers.get(batch.partition);
      if (!writer) {
        writer = new PartitionWriter({
          kind: this.#options.kind,
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
   * Lands what is buffered for the partitions being taken away, after the
   * flushes they have pending, then forgets them; if landing fails, what
   * is not landed is dropped uncommitted and the next owner reads it again
   * from the committed offset.
   */
  async onRevoked(partitions: number[]): Promise<void> {
    await Promise.all(
      partitions.map((partition) =>
        this.#enqueue(partition, async () => {
          const writer = this.#writers.get(partition);
          let landing: Promise<void> | undefined;
          try {
            // Chained behind the partition's pending flushes, so it settles last.
            landing = writer && writer.size > 0
              ? this.#startFlush(writer, "revoke", 1)
              : this.#pipelines.get(partition)?.tail;
          } catch (error) {
            landing = Promise.reject(error);
          }
          this.#writers.delete(partition);
          this.#pipelines.delete(partition);
          try {
            await landing;
          } catch (error) {
            // A lasting failure has already ended the run and is reported
            // once, by the entry point; another failure is news.
            log[isFatal(error) ? "debug" : "warn"](
              "dropped unlanded batches of a revoked partition",
              { partition, error },
            );
          }
        })
      ),
    );
  }

  /** Lands every open batch now and waits for every flush pending (used when a bounded run drains). */
  async flushAll(): Promise<void> {
    await Promise.all(
      [...this.#writers.keys()].map((partition) =>
        this.#enqueue(partition, async () => {
          const writer = this.#writers.get(partition);
          if (writer && writer.size > 0) {
            await this.#startFlush(writer, "drain");
          } else await this.#pipelines.get(partition)?.tail;
        })
      ),
    );
  }

  #enqueue(partition: number, work: () => Promise<void>): Promise<void> {
    const run = (this.#serial.get(partition) ?? Promise.resolve()).then(work);
    this.#serial.set(partition, run.catch(() => {}));
    return run;
  }

  #fail = (error: unknown): void => {
    this.#failed ??= { error };
    this.#reject(error);
  };

  /** Starts landing the batch if a rotation limit is reached, then waits while too many flushes are pending. */
  async #maybeFlush(partition: number, only?: RotationReason): Promise<void> {
    const writer = this.#writers.get(partition);
    const reason = writer?.rotationReason();
    if (!writer || !reason || (only && reason !== only)) return;
    this.#startFlush(writer, reason).catch(this.#fail);
    const pending = this.#pipelines.get(partition)?.pending ?? [];
    while (pending.length > this.#options.maxPendingFlushes) {
      await pending[0];
    }
  }

  /**
   * Seals a writer's buffer, sends it to the encoders, uploads it, and
   * commits it once the partition's earlier flushes are committed.
   *
   * @returns Settles once it is landed and committed; rejects when it, or an earlier flush of the partition, failed.
   */
  #startFlush(
    writer: PartitionWriter,
    reason: RotationReason,
    attempts = Infinity,
  ): Promise<void> {
    if (this.#stopped) {
      return Promise.reject(
        new Error(
          `Cannot land a batch of partition ${writer.partition} as the lake sink is stopped`,
        ),
      );
    }
    const sealed = writer.seal(reason);
    const encoders = this.#encoders ??= new EncoderPool();
    const encoded = encoders.encode(sealed.batch);
    encoded.catch(() => {});
    let pipeline = this.#pipelines.get(writer.partition);
    if (!pipeline) {
      pipeline = { tail: Promise.resolve(), pending: [] };
      this.#pipelines.set(writer.partition, pipeline);
    }
    // The upload starts as soon as the batch is encoded; the commit waits
    // for the partition's earlier flushes to be committed.
    const uploaded = encoded.then((batch) =>
      this.#retrying(
        writer.partition,
        attempts,
        () => writer.land(sealed, batch),
      )
    );
    uploaded.catch((error) => {
      // A lasting failure ends the run now, not after the flushes before it.
      if (attempts === Infinity && isFatal(error)) this.#fail(error);
    });
    const landed = pipeline.tail.then(() => uploaded).then((result) =>
      this.#commit(writer.partition, result, attempts, reason)
    );
    const { pending } = pipeline;
    pipeline.tail = landed;
    pending.push(landed);
    const done = () => void pending.splice(pending.indexOf(landed), 1);
    landed.then(done, done);
    return landed;
  }

  /** Commits a landed flush's offset, retrying with backoff, and counts what it landed. */
  async #commit(
    partition: number,
    result: FlushResult,
    attempts: number,
    reason: RotationReason,
  ): Promise<void> {
    const { consumer } = this.#options;
    await this.#retrying(
      partition,
      attempts,
      () => consumer.commit([{ partition, offset: result.nextOffset }]),
    );
    this.#committed.set(partition, result.nextOffset);
    this.stats.events += result.events;
    this.stats.deadLetters += result.deadLetters;
    this.stats.objects += result.keys.length;
    this.stats.bytes += result.bytes;
    const { objectsByReason, deadLettersByRule } = this.tallies;
    objectsByReason[reason] = (objectsByReason[reason] ?? 0) +
      result.keys.length;
    for (const rejection of result.rejections) {
      tallyRule(deadLettersByRule, rejection);
    }
  }

  /**
   * Runs `work` until it succeeds, backing off between attempts; gives up
   * on a fatal error, after `attempts`, or once the sink's signal aborts.
   */
  async #retrying<T>(
    partition: number,
    attempts: number,
    work: () => Promise<T>,
  ): Promise<T> {
    const { signal } = this.#options;
    for (let attempt = 0;; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (isFatal(error) || attempt + 1 >= attempts || signal?.aborted) {
          throw error;
        }
        this.stats.retries++;
        const delay = backoffDelay(attempt, { baseMs: 250, maxMs: 10_000 });
        log.warn("landing failed; retrying, nothing committed meanwhile", {
          partition,
          attempt: attempt + 1,
          retry_in_ms: delay,
          error,
        });
        await sleep(delay, signal);
      }
    }
  }
}

/** Counts a dead letter under its field and rule (see {@linkcode LandingTallies}). */
function tallyRule(tallies: Map<string, RuleTally>, rejection: Rejection) {
  let field = rejection.field;
  let rule = generalRule(rejection);
  let key = `${field}\u0000${rule}`;
  if (!tallies.has(key) && tallies.size >= MAX_RULE_TALLIES - 1) {
    field = rule = "other";
    key = `${field}\u0000${rule}`;
  }
  const tally = tallies.get(key);
  if (tally) tally.count++;
  else tallies.set(key, { field, rule, count: 1 });
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
