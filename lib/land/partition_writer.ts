/**
 * The writer of one topic-partition: it buffers consumed messages (packed,
 * ./packed_batch.ts), decides when to rotate, seals the buffer into a batch
 * for the encoders (./encoder_pool.ts), and lands an encoded batch in the
 * lake.
 *
 * A flush writes one gzip NDJSON object of valid events, named from the
 * stream coordinates of its first and last event and filed under the day it
 * was sealed (lib/lake/keys.ts), plus one dead-letter object for the invalid
 * messages; only when every object is durable does it report the offset to
 * commit. Each landed line is the validated event plus its coordinates under
 * `_stream`.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { Rejection } from "../contract/rules.ts";
import { deadLetterKey, eventKey, landingDay } from "../lake/keys.ts";
import type { Lake } from "../lake/lake.ts";
import { logger } from "../runtime/log.ts";
import type { StreamMessage } from "../stream/stream.ts";
import type { EncodedBatch } from "./encode_batch.ts";
import { BatchPacker, type PackedBatch } from "./packed_batch.ts";

/** When an open batch is landed. */
export interface FlushLimits {
  /** Land once the batch holds this many messages. */
  maxEvents: number;
  /** ... or this many bytes of messages (keys and values, UTF-8). */
  maxBytes: number;
  /** ... or when its oldest message has waited this long, in milliseconds. */
  maxAgeMs: number;
}

/** Why a batch is landed; each is logged with its limit. */
export type RotationReason = "count" | "bytes" | "age" | "revoke" | "drain";

/** What a flush landed. */
export interface FlushResult {
  /** The offset to commit: one past the last message landed. */
  nextOffset: number;
  /** Valid events landed. */
  events: number;
  /** Invalid messages dead-lettered. */
  deadLetters: number;
  /** Keys written, events first, dead letters last. */
  keys: string[];
  /** Compressed bytes written. */
  bytes: number;
  /** Why each dead letter was refused, in offset order. */
  rejections: Rejection[];
}

const log = logger("writer");

/** What a {@linkcode PartitionWriter} writes and where. */
export interface PartitionWriterOptions {
  /**
   * The kind of event the topic carries.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
  /** Identity of the log (see `Stream.identity()`). */
  streamId: string;
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Where to land. */
  lake: Lake;
  /** Rotation limits. */
  limits: FlushLimits;
  /**
   * Clock in epoch milliseconds, injected by tests.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** A sealed batch: the messages of one flush, packed, and where it lands. */
export interface SealedBatch {
  /** Why it was sealed. */
  reason: RotationReason;
  /** The landing day of its keys, fixed when sealed so a retry writes the same keys. */
  day: string;
  /** The offset to commit once it is landed: one past its last message. */
  nextOffset: number;
  /** Messages in it, valid or not. */
  messages: number;
  /** The messages, for the encoders; its buffers are transferred to them. */
  batch: PackedBatch;
}

/** Buffers, seals and lands one partition's messages. */
export class PartitionWriter {
  /** The kind of event the topic carries. */
  readonly kind: EventKind;
  /** Identity of the log. */
  readonly streamId: string;
  /** Topic. */
  readonly topic: string;
  /** Partition. */
  readonly partition: number;
  #lake: Lake;
  #limits: FlushLimits;
  #now: () => number;
  #packer = new BatchPacker();
  #firstAt = 0;
  #lastOffset = -1;

  /** Creates the writer. */
  constructor(options: PartitionWriterOptions) {
    const {
      kind = "quotes",
      streamId,
      topic,
      partition,
      lake,
      limits,
      now = Date.now,
    } = options;
    this.kind = kind;
    this.streamId = streamId;
    this.topic = topic;
    this.partition = partition;
    this.#lake = lake;
    this.#limits = limits;
    this.#now = now;
  }

  /** Messages buffered, valid or not. */
  get size(): number {
    return this.#packer.count;
  }

  /** Offset of the last message buffered or sealed, or -1. */
  get lastOffset(): number {
    return this.#lastOffset;
  }

  /**
   * Buffers messages, packed; they are validated when encoded.
   *
   * @param messages Messages of this partition, offsets ascending.
   * @throws {RangeError} When offsets go backwards (the stream misbehaved).
   */
  add(messages: StreamMessage[]): void {
    for (const message of messages) {
      if (message.offset <= this.#lastOffset) {
        throw new RangeError(
          `Cannot buffer partition ${this.partition} as offsets must increase: offset ${message.offset} came after ${this.#lastOffset}`,
        );
      }
      if (this.#packer.count === 0) this.#firstAt = this.#now();
      this.#packer.push(message);
      this.#lastOffset = message.offset;
    }
  }

  /**
   * The rotation check that fires now, if any: count, bytes, then age.
   *
   * @returns The reason to land the batch now, or `null`.
   */
  rotationReason(): RotationReason | null {
    const count = this.#packer.count;
    if (count === 0) return null;
    if (count >= this.#limits.maxEvents) return "count";
    if (this.#packer.bytes >= this.#limits.maxBytes) return "bytes";
    if (this.#now() - this.#firstAt >= this.#limits.maxAgeMs) return "age";
    return null;
  }

  /**
   * Hands over the buffer as a batch to encode and land, and starts an
   * empty one.
   *
   * @param reason Why the batch is landed, for the log.
   * @returns The sealed batch.
   * @throws {RangeError} When nothing is buffered.
   */
  seal(reason: RotationReason): SealedBatch {
    const messages = this.#packer.count;
    if (messages === 0) {
      throw new RangeError(
        `Cannot seal a batch of partition ${this.partition} as it holds no message`,
      );
    }
    return {
      reason,
      day: landingDay(this.#now()),
      nextOffset: this.#lastOffset + 1,
      messages,
      batch: this.#packer.take({
        kind: this.kind,
        streamId: this.streamId,
        topic: this.topic,
        partition: this.partition,
      }),
    };
  }

  /**
   * Lands an encoded batch: every object is durable before this resolves.
   * Writing the same batch again writes the same keys and bodies, so a
   * failed landing is retried by calling this again.
   *
   * @param sealed The batch as sealed.
   * @param encoded What the encoders made of it.
   * @returns What was landed and the offset to commit.
   */
  async land(sealed: SealedBatch, encoded: EncodedBatch): Promise<FlushResult> {
    const coordinates = {
      streamId: this.streamId,
      topic: this.topic,
      partition: this.partition,
    };
    const keys: string[] = [];
    let bytes = 0;
    if (encoded.events) {
      const { firstOffset, lastOffset, body } = encoded.events;
      const key = eventKey(sealed.day, {
        ...coordinates,
        firstOffset,
        lastOffset,
      });
      await this.#lake.put(key, body);
      keys.push(key);
      bytes += body.length;
    }
    if (encoded.deadLetters) {
      const { firstOffset, lastOffset, body } = encoded.deadLetters;
      const key = deadLetterKey(sealed.day, {
        ...coordinates,
        firstOffset,
        lastOffset,
      });
      await this.#lake.put(key, body);
      keys.push(key);
      bytes += body.length;
      for (const { offset, reason } of encoded.rejections) {
        log.warn("dead-lettered event", {
          topic: this.topic,
          partition: this.partition,
          offset,
          field: reason.field,
          rule: reason.rule,
          value: reason.value,
        });
      }
    }
    const result: FlushResult = {
      nextOffset: sealed.nextOffset,
      events: encoded.events?.lines ?? 0,
      deadLetters: encoded.deadLetters?.lines ?? 0,
      keys,
      bytes,
      rejections: encoded.rejections.map(({ reason }) => reason),
    };
    log.debug("landed batch", {
      partition: this.partition,
      reason: sealed.reason,
      limit: this.#limitOf(sealed.reason),
      objects: keys.length,
      events: result.events,
      dead_letters: result.deadLetters,
      next_offset: sealed.nextOffset,
    });
    return result;
  }

  #limitOf(reason: RotationReason): number | undefined {
    if (reason === "count") return this.#limits.maxEvents;
    if (reason === "bytes") return this.#limits.maxBytes;
    if (reason === "age") return this.#limits.maxAgeMs;
    return undefined;
  }
}
