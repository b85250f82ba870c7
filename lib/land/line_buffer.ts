/**
 * NDJSON written straight as UTF-8 bytes into one growing buffer: the
 * landing's workers append each landed line in parts (an event's bytes as
 * consumed, text, safe integers) and gzip the buffer whole, without making a
 * string of each line or of the object. The batch packer (./packed_batch.ts)
 * appends keys and values to one the same way, without ending lines.
 *
 * @module
 */

const NEWLINE = 10;
const ZERO = 48;
/** 10⁸: integers are written in parts below it. */
const HALF = 100_000_000;

/** Decimal digits of a non-negative integer below 10⁸. */
function digitCount(value: number): number {
  let digits = 1;
  for (let bound = 10; value >= bound && digits < 8; bound *= 10) digits++;
  return digits;
}

/** Lines of NDJSON as UTF-8 bytes, appended part by part. */
export class LineBuffer {
  #encoder = new TextEncoder();
  #bytes: Uint8Array;
  #used = 0;
  #lines = 0;

  /**
   * Creates an empty buffer.
   *
   * @param capacity Bytes to start with; it doubles as needed.
   */
  constructor(capacity = 64 * 1024) {
    this.#bytes = new Uint8Array(Math.max(16, capacity));
  }

  /** Lines ended so far. */
  get lines(): number {
    return this.#lines;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#used;
  }

  /** Room before the buffer next grows, in bytes. */
  get capacity(): number {
    return this.#bytes.length;
  }

  /** The bytes written so far (a view, valid until the next write). */
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#used);
  }

  /** Appends bytes as they are. */
  bytesPart(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  /** Appends text as UTF-8. */
  textPart(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.#reserve(3 * text.length);
    this.#used += this.#encoder.encodeInto(
      text,
      this.#bytes.subarray(this.#used),
    ).written;
  }

  /**
   * Appends a non-negative safe integer in decimal, as `String()` writes it.
   *
   * @throws {RangeError} When it is not a non-negative safe integer.
   */
  integerPart(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `Cannot write a line as the integer must be a non-negative safe integer: current value is ${value}`,
      );
    }
    // In two parts below 10⁸, so each digit comes from 32-bit integer
    // arithmetic; both parts and their split are exact for safe integers.
    const high = value < HALF ? 0 : Math.floor(value / HALF);
    const low = value - high * HALF;
    const digits = high === 0 ? digitCount(low) : digitCount(high) + 8;
    this.#reserve(digits);
    const end = this.#used + digits;
    if (high === 0) this.#writeDigits(low, end, digits);
    else {
      this.#writeDigits(low, end, 8);
      this.#writeDigits(high, end - 8, digits - 8);
    }
    this.#used = end;
  }

  /** Writes the last `count` digits of `value` (below 10⁸), zero-padded, to end at `end`. */
  #writeDigits(value: number, end: number, count: number): void {
    let rest = value;
    for (let at = end - 1; at >= end - count; at--) {
      const next = (rest / 10) | 0;
      this.#bytes[at] = ZERO + rest - next * 10;
      rest = next;
    }
  }

  /** Ends the line. */
  endLine(): void {
    this.#reserve(1);
    this.#bytes[this.#used++] = NEWLINE;
    this.#lines++;
  }

  /** Drops what is written, keeping the room. */
  clear(): void {
    this.#used = 0;
    this.#lines = 0;
  }

  /** Makes room for `size` more bytes. */
  #reserve(size: number): void {
    const room = this.#used + size;
    if (room > this.#bytes.length) {
      const bytes = new Uint8Array(Math.max(room, 2 * this.#bytes.length));
      bytes.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = bytes;
    }
  }
}
