/**
 * Landing: the consuming side of the pipeline, from the stream to the lake.
 * {@linkcode startLanding} joins the consumer group and runs a
 * {@linkcode LakeSink} (./sink.ts) as its handlers, which lands each batch
 * and commits offsets only after a durable write.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { Lake } from "../lake/lake.ts";
import { sleep } from "../runtime/retry.ts";
import type {
  PartitionOffset,
  Stream,
  StreamConsumer,
} from "../stream/stream.ts";
import type { EncoderPool } from "./encoder_pool.ts";
import type { FlushLimits } from "./partition_writer.ts";
import { LakeSink } from "./sink.ts";

/** How often drain() looks whether the stream's end is consumed and committed, in milliseconds. */
const DRAIN_POLL_MS = 10;

/** Options for {@linkcode startLanding}. */
export interface StartLandingOptions {
  /**
   * The kind of event the stream's topic carries.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
  /** The stream to read. */
  stream: Stream;
  /** Where events land. */
  lake: Lake;
  /** Consumer group. */
  groupId: string;
  /** Rotation limits. */
  limits: FlushLimits;
  /**
   * The workers that validate and gzip batches (tests pass failing ones).
   *
   * @default {the sink's own}
   */
  encoders?: EncoderPool;
}

/** How far a partition's landing is behind its stream. */
export interface PartitionLag {
  /** Partition. */
  partition: number;
  /** Messages in the stream after the group's committed offset: not landed yet. */
  messages: number;
}

/** A running landing: consumer plus sink. */
export interface Landing {
  /** The sink, with its running totals. */
  readonly sink: LakeSink;
  /** Settles when the consumer stops; rejects on a fatal error. */
  readonly done: Promise<void>;
  /**
   * Lands everything the stream holds now and commits it: resolves once the
   * committed offsets reach the end offsets read when it was called.
   */
  drain(): Promise<void>;
  /**
   * Each partition's lag now, read from the stream: its end offset minus
   * the group's committed offset, or minus its oldest offset kept when that
   * is later (retention) or the group has none. It keeps growing while the
   * landing is stuck, which a count from the batches consumed would not.
   *
   * @returns One entry per partition, partitions ascending.
   * @throws When the stream cannot be read (e.g. the broker is down).
   */
  lag(): Promise<PartitionLag[]>;
  /** Stops consuming; open batches are landed (or dropped uncommitted) first. */
  stop(): Promise<void>;
}

/**
 * Starts consuming the stream into the lake.
 *
 * @param options Stream, lake, group and limits.
 * @returns The running landing.
 */
export async function startLanding(
  options: StartLandingOptions,
): Promise<Landing> {
  const { kind, stream, lake, groupId, limits, encoders } = options;
  // The consumer connects while the stream's identity is read: each is a
  // round trip on a client of its own.
  const connecting = stream.ensureTopic().then(() => stream.consumer(groupId));
  const identity = stream.identity();
  let consumer: StreamConsumer;
  let streamId: string;
  try {
    [consumer, streamId] = await Promise.all([connecting, identity]);
  } catch (error) {
    connecting.then((opened) => opened.stop()).catch(() => {});
    identity.catch(() => {});
    throw error;
  }
  const stopping = new AbortController();
  const sink = new LakeSink({
    kind,
    consumer,
    lake,
    streamId,
    limits,
    signal: stopping.signal,
    encoders,
  });
  // The group's offsets from before this run, read while it joins (a fresh
  // admin client's first request takes a few hundred milliseconds); only
  // drain() needs them. A later read is as good: the sink commits only what
  // it has landed.
  const committedBefore = consumer.committedOffsets().then((offsets) =>
    new Map(offsets.map(({ partition, offset }) => [partition, offset]))
  );
  committedBefore.catch(() => {});
  sink.start();
  const done = Promise.race([consumer.run(sink), sink.failure]).finally(() =>
    sink.stop()
  );
  done.catch(() => {});

  let finished = false;
  done.then(() => (finished = true), () => (finished = true));
  /** Whether every partition's offsets (consumed or committed) reached `ends`. */
  const reached = (
    ends: PartitionOffset[],
    offsets: PartitionOffset[],
    before: Map<number, number>,
  ) => {
    const now = new Map(
      offsets.map(({ partition, offset }) => [partition, offset]),
    );
    return ends.every(({ partition, offset }) =>
      Math.max(now.get(partition) ?? 0, before.get(partition) ?? 0) >= offset
    );
  };

  return {
    sink,
    done,
    async drain() {
      const [ends, before] = await Promise.all([
        consumer.endOffsets(),
        committedBefore,
      ]);
      const landed = () => reached(ends, sink.committed, before);
      // Wait until everything up to the ends is buffered, then land it in one flush.
      while (!landed()) {
        if (reached(ends, sink.consumed, before)) await sink.flushAll();
        // A flush with nothing to land settles at once, as when a stopping
        // consumer is landing its partitions itself: wait on the event loop,
        // where that landing and the consumer's stop run, rather than spin;
        // briefly, as the last flush waits for the last batch consumed.
        if (!landed()) await Promise.race([sleep(DRAIN_POLL_MS), done]);
        if (finished && !landed()) {
          await done; // rethrows the consumer's failure, if it had one
          throw new Error(
            "Cannot drain the stream as the consumer stopped before reaching its end offsets",
          );
        }
      }
    },
    async lag() {
      const [ends, starts, committed] = await Promise.all([
        consumer.endOffsets(),
        consumer.startOffsets(),
        consumer.committedOffsets(),
      ]);
      const from = new Map(
        starts.map(({ partition, offset }) => [partition, offset]),
      );
      // Retention may have deleted what a group committed and never read.
      for (const { partition, offset } of committed) {
        from.set(partition, Math.max(offset, from.get(partition) ?? 0));
      }
      return ends.map(({ partition, offset }) => ({
        partition,
        messages: Math.max(0, offset - (from.get(partition) ?? 0)),
      }));
    },
    async stop() {
      stopping.abort();
      await consumer.stop();
      await done.catch(() => {});
    },
  };
}
