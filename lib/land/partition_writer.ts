/**
 * The writer of one topic-partition: it validates consumed messages, buffers
 * them, decides when to rotate, and lands the buffer in the lake.
 *
 * A flush writes one gzip NDJSON object of valid events, named from the
 * stream coordinates of its first and last message and filed under the day
 * it is landed (lib/lake/keys.ts), plus one dead-letter object for the
 * invalid messages; only when every object is durable does it report the
 * offset to commit. Each landed line is the validated event plus its
 * coordinates under `_stream`.
 *
 * @module
 */
import { formatLandedLine } from "../contract/landed_line.ts";
import { parseQuote, type Rejection } from "../contract/quote.ts";
import { deadLetterKey, eventKey, landingDay } from "../lake/keys.ts";
import type { Lake } from "../lake/lake.ts";
import { encodeLines } from "../lake/ndjson.ts";
import { logger } from "../runtime/log.ts";
import type { StreamMessage } from "../stream/stream.ts";

/** When an open batch is landed. */
export interface FlushLimits {
  /** Land once the batch holds this many messages. */
  maxEvents: number;
  /** ... or this many bytes of NDJSON. */
  maxBytes: number;
  /** ... or when its oldest message has waited this long, in milliseconds. */
  maxAgeMs: number;
}

/** Why a batch is landed; each is logged with its limit. */
export type RotationReason = "count" | "bytes" | "age" | "revoke" | "drain";

/** A dead letter: the message as consumed and why it was rejected. */
export interface DeadLetter {
  /** Identity of the log. */
  stream: string;
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Offset. */
  offset: number;
  /** Key, if any. */
  key: string | null;
  /** Record timestamp, epoch milliseconds. */
  timestamp: number;
  /** The value exactly as consumed. */
  value: string;
  /** Why it was rejected. */
  reason: Rejection;
}

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
}

const log = logger("writer");

/** What a {@linkcode PartitionWriter} writes and where. */
export interface PartitionWriterOptions {
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

/** Buffers and lands one partition's messages. */
export class PartitionWriter {
  /** Identity of the log. */
  readonly streamId: string;
  /** Topic. */
  readonly topic: string;
  /** Partition. */
  readonly partition: number;
  #lake: Lake;
  #limits: FlushLimits;
  #now: () => number;
  /** Valid lines, in offset order. */
  #lines: string[] = [];
  /** Offsets of the first and last valid line. */
  #firstEvent = -1;
  #lastEvent = -1;
  /** The landing day of the batch, fixed by its first flush attempt so a retry writes the same keys. */
  #day: string | undefined;
  #deadLetters: DeadLetter[] = [];
  #count = 0;
  #bytes = 0;
  #firstAt = 0;
  #lastOffset = -1;

  /** Creates the writer. */
  constructor(options: PartitionWriterOptions) {
    const { streamId, topic, partition, lake, limits, now = Date.now } =
      options;
    this.streamId = streamId;
    this.topic = topic;
    this.partition = partition;
    this.#lake = lake;
    this.#limits = limits;
    this.#now = now;
  }

  /** Messages buffered, valid or not. */
  get size(): number {
    return this.#count;
  }

  /** Offset of the last message buffered, or -1. */
  get lastOffset(): number {
    return this.#lastOffset;
  }

  /**
   * Buffers messages: valid events as landed lines, invalid ones as dead letters.
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
      const result = parseQuote(message.value);
      if (result.ok) {
        const line = formatLandedLine(result.quote, {
          id: this.streamId,
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          timestamp: message.timestamp,
        });
        if (this.#lines.length === 0) this.#firstEvent = message.offset;
        this.#lines.push(line);
        this.#lastEvent = message.offset;
        this.#bytes += line.length + 1;
      } else {
        this.#deadLetters.push({
          stream: this.streamId,
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          key: message.key,
          timestamp: message.timestamp,
          value: message.value,
          reason: result.rejection,
        });
        this.#bytes += message.value.length;
      }
      if (this.#count === 0) this.#firstAt = this.#now();
      this.#count++;
      this.#lastOffset = message.offset;
    }
  }

  /**
   * The rotation check that fires now, if any: count, bytes, then age.
   *
   * @returns The reason to land the batch now, or `null`.
   */
  rotationReason(): RotationReason | null {
    if (this.#count === 0) return null;
    if (this.#count >= this.#limits.maxEvents) return "count";
    if (this.#bytes >= this.#limits.maxBytes) return "bytes";
    if (this.#now() - this.#firstAt >= this.#limits.maxAgeMs) return "age";
    return null;
  }

  /**
   * Lands the buffer: every object is durable before this resolves. On
   * failure the buffer is kept whole, so a retry writes the same keys again.
   *
   * @param reason Why the batch is landed, for the log.
   * @returns What was landed and the offset to commit.
   */
  async flush(reason: RotationReason): Promise<FlushResult> {
    const nextOffset = this.#lastOffset + 1;
    const day = this.#day ??= landingDay(this.#now());
    const keys: string[] = [];
    let bytes = 0;
    const events = this.#lines.length;
    if (events > 0) {
      const key = eventKey(day, {
        streamId: this.streamId,
        topic: this.topic,
        partition: this.partition,
        firstOffset: this.#firstEvent,
        lastOffset: this.#lastEvent,
      });
      const body = await encodeLines(this.#lines);
      await this.#lake.put(key, body);
      keys.push(key);
      bytes += body.length;
    }
    if (this.#deadLetters.length > 0) {
      const first = this.#deadLetters[0];
      const key = deadLetterKey(
        day,
        {
          streamId: this.streamId,
          topic: this.topic,
          partition: this.partition,
          firstOffset: first.offset,
          lastOffset: this.#deadLetters[this.#deadLetters.length - 1].offset,
        },
      );
      const body = await encodeLines(
        this.#deadLetters.map((d) => JSON.stringify(d)),
      );
      await this.#lake.put(key, body);
      keys.push(key);
      bytes += body.length;
      for (const dead of this.#deadLetters) {
        log.warn("dead-lettered event", {
          topic: dead.topic,
          partition: dead.partition,
          offset: dead.offset,
          field: dead.reason.field,
          rule: dead.reason.rule,
          value: dead.reason.value,
        });
      }
    }
    const result: FlushResult = {
      nextOffset,
      events,
      deadLetters: this.#deadLetters.length,
      keys,
      bytes,
    };
    log.debug("landed batch", {
      partition: this.partition,
      reason,
      limit: this.#limitOf(reason),
      objects: keys.length,
      events,
      dead_letters: result.deadLetters,
      next_offset: nextOffset,
    });
    this.discard();
    return result;
  }

  /** Drops the buffer without landing it; its messages will be read again from the committed offset. */
  discard(): void {
    this.#lines = [];
    this.#day = undefined;
    this.#deadLetters = [];
    this.#count = 0;
    this.#bytes = 0;
  }

  #limitOf(reason: RotationReason): number | undefined {
    if (reason === "count") return this.#limits.maxEvents;
    if (reason === "bytes") return this.#limits.maxBytes;
    if (reason === "age") return this.#limits.maxAgeMs;
    return undefined;
  }
}
