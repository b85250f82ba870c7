/**
 * Encoding a packed batch into the objects a flush lands: each message is
 * validated, a valid event becomes a landed line (the event plus its
 * coordinates under `_stream`), an invalid one a dead letter, and each kind
 * is gzipped into one NDJSON body. It is pure CPU work, so it runs on a
 * worker thread (./encode_worker.ts, through ./encoder_pool.ts); this file
 * also holds the messages the two threads exchange.
 *
 * @module
 */
import type { LandedLine } from "../contract/landed_line.ts";
import { readCanonicalQuote } from "../contract/canonical_quote.ts";
import { CONTRACTS, type MarketEvent } from "../contract/kinds.ts";
import type { Rejection } from "../contract/rules.ts";
import { encodeLinesSync, encodeNdjsonSync } from "../lake/ndjson.ts";
import { LineBuffer } from "./line_buffer.ts";
import { messageAt, type PackedBatch } from "./packed_batch.ts";

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

/** One gzip NDJSON object body and the offsets of its first and last line. */
export interface EncodedObject {
  /** Offset of the first line. */
  firstOffset: number;
  /** Offset of the last line. */
  lastOffset: number;
  /** Lines in the body. */
  lines: number;
  /** The gzipped NDJSON. */
  body: Uint8Array;
}

/** What a batch encodes to. */
export interface EncodedBatch {
  /** The valid events as landed lines, or `null` when there is none. */
  events: EncodedObject | null;
  /** The invalid messages as dead letters, or `null` when there is none. */
  deadLetters: EncodedObject | null;
  /** Each dead letter's offset and reason, for the log. */
  rejections: { offset: number; reason: Rejection }[];
}

/**
 * Validates and encodes a packed batch (see the module's doc).
 *
 * @param batch The batch.
 * @returns The bodies to land and the rejections.
 */
export function encodeBatch(batch: PackedBatch): EncodedBatch {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const { bytes, ends, offsets, timestamps } = batch;
  const streamHead = encoder.encode(
    // JSON.stringify(stream) of LandedLine["_stream"] without its last two
    // fields, which change per message (safe integers print the same either way)
    `,"_stream":${
      JSON.stringify(
        {
          id: batch.streamId,
          topic: batch.topic,
          partition: batch.partition,
        } satisfies Omit<LandedLine["_stream"], "offset" | "timestamp">,
      ).slice(0, -1)
    },"offset":`,
  );
  const timestampHead = encoder.encode(`,"timestamp":`);
  const streamTail = encoder.encode("}}");
  // Room for the values, their coordinates and a margin, so it rarely grows.
  const lines = new LineBuffer(
    (batch.count === 0 ? 0 : ends[2 * batch.count - 1]) +
      batch.count * (streamHead.length + 64),
  );
  const dead: string[] = [];
  const rejections: EncodedBatch["rejections"] = [];
  let firstEvent = -1;
  let lastEvent = -1;
  // One clock reading for the batch: it takes milliseconds to encode.
  const options = { now: Date.now() };
  // Quotes are read from their bytes when canonical (see
  // ../contract/canonical_quote.ts); other kinds are decoded and parsed.
  const quotes = batch.kind === "quotes";
  const contract = CONTRACTS[batch.kind];
  for (let i = 0; i < batch.count; i++) {
    const value = bytes.subarray(ends[2 * i], ends[2 * i + 1]);
    let canonical = false;
    let event: MarketEvent | undefined;
    let rejection: Rejection | undefined;
    if (quotes) {
      const read = readCanonicalQuote(value, options);
      canonical = read.canonical;
      if (read.validation.ok) event = read.validation.quote;
      else rejection = read.validation.rejection;
    } else {
      const result = contract.parse(decoder.decode(value), options);
      if (result.ok) event = result.event;
      else rejection = result.rejection;
    }
    const offset = offsets[i];
    if (event !== undefined) {
      // JSON.stringify({ ...event, _stream }), without copying the event; a
      // canonical value's bytes are already JSON.stringify(event).
      if (canonical) lines.bytesPart(value.subarray(0, value.length - 1));
      else lines.textPart(JSON.stringify(event).slice(0, -1));
      lines.bytesPart(streamHead);
      lines.integerPart(offset);
      lines.bytesPart(timestampHead);
      lines.integerPart(timestamps[i]);
      lines.bytesPart(streamTail);
      lines.endLine();
      if (firstEvent === -1) firstEvent = offset;
      lastEvent = offset;
    } else {
      const { key } = messageAt(batch, i);
      const letter: DeadLetter = {
        stream: batch.streamId,
        topic: batch.topic,
        partition: batch.partition,
        offset,
        key: key === null ? null : decoder.decode(key),
        timestamp: timestamps[i],
        value: decoder.decode(value),
        reason: rejection as Rejection,
      };
      dead.push(JSON.stringify(letter));
      rejections.push({ offset, reason: letter.reason });
    }
  }
  return {
    events: lines.lines === 0 ? null : {
      firstOffset: firstEvent,
      lastOffset: lastEvent,
      lines: lines.lines,
      body: encodeNdjsonSync(lines.bytes),
    },
    deadLetters: dead.length === 0 ? null : {
      firstOffset: rejections[0].offset,
      lastOffset: rejections[rejections.length - 1].offset,
      lines: dead.length,
      body: encodeLinesSync(dead),
    },
    rejections,
  };
}

/**
 * The buffers of an {@linkcode EncodedBatch}, to transfer with it.
 *
 * @param encoded The encoded batch.
 * @returns The bodies' buffers.
 */
export function encodedTransferables(encoded: EncodedBatch): ArrayBuffer[] {
  return [encoded.events, encoded.deadLetters].flatMap((object) =>
    object === null ? [] : [object.body.buffer as ArrayBuffer]
  );
}

/** What the event loop sends a worker: one batch to encode. */
export interface EncodeRequest {
  /** Matches the reply to the request. */
  id: number;
  /** The batch, its buffers transferred. */
  batch: PackedBatch;
}

/** What a worker sends back: the encoded batch, or why it could not encode it. */
export type EncodeReply =
  | { id: number; ok: true; encoded: EncodedBatch }
  | { id: number; ok: false; error: string };
