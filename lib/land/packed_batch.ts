/**
 * A batch of one partition's messages packed into a few typed arrays, so
 * that it crosses to a worker thread whole, by transfer, in one message:
 * the keys' and values' bytes back to back in one buffer (copied as the
 * stream read them, or their text encoded as UTF-8), with an index of where
 * each ends, beside the offsets and timestamps.
 * {@linkcode BatchPacker} builds one on the event loop; the worker reads it
 * with {@linkcode messageAt}.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { StreamMessage } from "../stream/stream.ts";
import { LineBuffer } from "./line_buffer.ts";

/** Messages of one partition, packed (see the module's doc). */
export interface PackedBatch {
  /** The kind of event the topic carries, whose contract validates each message. */
  kind: EventKind;
  /** Identity of the log. */
  streamId: string;
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Messages held; the arrays may be longer. */
  count: number;
  /** Each message's offset. */
  offsets: Float64Array;
  /** Each message's record timestamp, epoch milliseconds. */
  timestamps: Float64Array;
  /**
   * Where each message's key (at `2 * i`) and value (at `2 * i + 1`) end in
   * {@linkcode PackedBatch.bytes}; a key starts where the previous value ends.
   */
  ends: Uint32Array;
  /** 1 where a message has no key. */
  nullKeys: Uint8Array;
  /** The keys and values, UTF-8 (as read: the worker decodes them). */
  bytes: Uint8Array;
}

/**
 * The buffers a {@linkcode PackedBatch} owns, to transfer with it.
 *
 * @param batch The batch.
 * @returns Its buffers; after the transfer the sender can no longer read them.
 */
export function transferablesOf(batch: PackedBatch): ArrayBuffer[] {
  return [
    batch.offsets.buffer as ArrayBuffer,
    batch.timestamps.buffer as ArrayBuffer,
    batch.ends.buffer as ArrayBuffer,
    batch.nullKeys.buffer as ArrayBuffer,
    batch.bytes.buffer as ArrayBuffer,
  ];
}

/** Message `i` of a packed batch, its key and value still as bytes. */
export interface PackedMessage {
  /** Offset. */
  offset: number;
  /** Record timestamp, epoch milliseconds. */
  timestamp: number;
  /** The key's bytes, or `null` when it has none. */
  key: Uint8Array | null;
  /** The value's bytes. */
  value: Uint8Array;
}

/**
 * Reads message `i` of a packed batch (the bytes are views, not copies).
 *
 * @param batch The batch.
 * @param i The message's index, below `batch.count`.
 * @returns The message.
 * @throws {RangeError} When `i` is not an index of the batch.
 */
export function messageAt(batch: PackedBatch, i: number): PackedMessage {
  if (!Number.isInteger(i) || i < 0 || i >= batch.count) {
    throw new RangeError(
      `Cannot read message ${i} of a packed batch as it holds ${batch.count}`,
    );
  }
  const keyStart = i === 0 ? 0 : batch.ends[2 * i - 1];
  const keyEnd = batch.ends[2 * i];
  return {
    offset: batch.offsets[i],
    timestamp: batch.timestamps[i],
    key: batch.nullKeys[i] === 1
      ? null
      : batch.bytes.subarray(keyStart, keyEnd),
    value: batch.bytes.subarray(keyEnd, batch.ends[2 * i + 1]),
  };
}

/** Initial room, in messages and bytes; it doubles as needed and is kept for the next batch. */
const INITIAL_MESSAGES = 256;
const INITIAL_BYTES = 64 * 1024;

/** Packs messages one by one into a {@linkcode PackedBatch}. */
export class BatchPacker {
  #count = 0;
  #offsets = new Float64Array(INITIAL_MESSAGES);
  #timestamps = new Float64Array(INITIAL_MESSAGES);
  #ends = new Uint32Array(2 * INITIAL_MESSAGES);
  #nullKeys = new Uint8Array(INITIAL_MESSAGES);
  #bytes = new LineBuffer(INITIAL_BYTES);

  /** Messages packed since the last {@linkcode BatchPacker.take}. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of keys and values packed since the last {@linkcode BatchPacker.take}. */
  get bytes(): number {
    return this.#bytes.length;
  }

  /**
   * Packs one message: its key's and value's bytes are copied when it has
   * them (`keyBytes`, `valueBytes`), its text encoded otherwise.
   */
  push(message: StreamMessage): void {
    if (this.#count === this.#offsets.length) this.#growIndex();
    const i = this.#count;
    this.#offsets[i] = message.offset;
    this.#timestamps[i] = message.timestamp;
    const { keyBytes, valueBytes } = message;
    const key = keyBytes === undefined ? message.key : keyBytes;
    if (key === null) {
      this.#nullKeys[i] = 1;
    } else {
      this.#nullKeys[i] = 0;
      if (typeof key === "string") this.#bytes.textPart(key);
      else this.#bytes.bytesPart(key);
    }
    this.#ends[2 * i] = this.#bytes.length;
    if (valueBytes === undefined) this.#bytes.textPart(message.value);
    else this.#bytes.bytesPart(valueBytes);
    this.#ends[2 * i + 1] = this.#bytes.length;
    this.#count++;
  }

  /**
   * Hands over what is packed and starts an empty batch with the same room.
   *
   * @returns The batch, owning its buffers.
   */
  take(
    coordinates: Pick<PackedBatch, "kind" | "streamId" | "topic" | "partition">,
  ): PackedBatch {
    const batch: PackedBatch = {
      ...coordinates,
      count: this.#count,
      offsets: this.#offsets,
      timestamps: this.#timestamps,
      ends: this.#ends,
      nullKeys: this.#nullKeys,
      bytes: this.#bytes.bytes,
    };
    this.#offsets = new Float64Array(this.#offsets.length);
    this.#timestamps = new Float64Array(this.#timestamps.length);
    this.#ends = new Uint32Array(this.#ends.length);
    this.#nullKeys = new Uint8Array(this.#nullKeys.length);
    this.#bytes = new LineBuffer(this.#bytes.capacity);
    this.#count = 0;
    return batch;
  }

  /** Drops what is packed, keeping the room. */
  clear(): void {
    this.#count = 0;
    this.#bytes.clear();
  }

  #growIndex(): void {
    const length = 2 * this.#offsets.length;
    const grow = <T extends Float64Array | Uint32Array | Uint8Array>(
      array: T,
      size: number,
      make: (size: number) => T,
    ) => {
      const next = make(size);
      next.set(array);
      return next;
    };
    this.#offsets = grow(this.#offsets, length, (n) => new Float64Array(n));
    this.#timestamps = grow(
      this.#timestamps,
      length,
      (n) => new Float64Array(n),
    );
    this.#ends = grow(this.#ends, 2 * length, (n) => new Uint32Array(n));
    this.#nullKeys = grow(this.#nullKeys, length, (n) => new Uint8Array(n));
  }
}
