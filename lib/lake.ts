/**
 * The lake seam: an object store holding the raw landed events (Bronze).
 *
 * Two implementations share these semantics: an S3 bucket through
 * `@aws-sdk/client-s3` (`lib/lake/s3.ts`, when `S3_BUCKET` is set) and a local
 * directory with the same keys (`lib/lake/local.ts`). This module also owns
 * the key layout, so every writer and reader agrees on it.
 *
 * @module
 */

/** An object's listing entry. */
export interface LakeObject {
  /** The object key, `/`-separated. */
  key: string;
  /** Size in bytes. */
  size: number;
}

/** An object store. */
export interface Lake {
  /** Human-readable location, e.g. `s3://bucket` or `file:///…/data/lake`. */
  readonly location: string;
  /**
   * Writes an object; resolves once it is durable (S3: the PUT succeeded;
   * local: written, fsynced and renamed into place). Rewriting a key replaces
   * the object whole.
   */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Reads an object whole. */
  get(key: string): Promise<Uint8Array>;
  /**
   * Lists every object under `prefix` in key order, page after page, with no
   * ceiling on the count.
   */
  list(prefix: string): AsyncIterable<LakeObject>;
}

/** Prefix of dead-letter objects. */
export const DEAD_LETTER_PREFIX = "dead-letter";

const OFFSET_DIGITS = 20;

/** Stream coordinates of the first and last message in an object. */
export interface ObjectCoordinates {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Offset of the first message. */
  firstOffset: number;
  /** Offset of the last message. */
  lastOffset: number;
}

/**
 * The object name for a run of messages: `<topic>+<partition>+<first>+<last>.ndjson.gz`
 * with zero-padded offsets, so the same messages always land under the same
 * name and a retried upload overwrites its earlier attempt.
 */
export function objectName(coordinates: ObjectCoordinates): string {
  const { topic, partition, firstOffset, lastOffset } = coordinates;
  if (
    !Number.isSafeInteger(firstOffset) || firstOffset < 0 ||
    lastOffset < firstOffset
  ) {
    throw new RangeError(
      `Cannot name an object as the offsets must satisfy 0 <= first <= last: current values are ${firstOffset} and ${lastOffset}`,
    );
  }
  const pad = (n: number) => String(n).padStart(OFFSET_DIGITS, "0");
  return `${topic}+${partition}+${pad(firstOffset)}+${
    pad(lastOffset)
  }.ndjson.gz`;
}

/**
 * The key of landed events of one symbol and day:
 * `<topic>/symbol=<symbol>/date=<YYYY-MM-DD>/<object name>`.
 */
export function eventKey(
  symbol: string,
  date: string,
  coordinates: ObjectCoordinates,
): string {
  return `${coordinates.topic}/symbol=${symbol}/date=${date}/${
    objectName(coordinates)
  }`;
}

/**
 * The key of dead letters: `dead-letter/<topic>/date=<YYYY-MM-DD>/<object name>`,
 * dated by the records' timestamp.
 */
export function deadLetterKey(
  date: string,
  coordinates: ObjectCoordinates,
): string {
  return `${DEAD_LETTER_PREFIX}/${coordinates.topic}/date=${date}/${
    objectName(coordinates)
  }`;
}

/** Gzips NDJSON lines into an object body. */
export async function encodeLines(lines: string[]): Promise<Uint8Array> {
  const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
  return await compress(new TextEncoder().encode(text), "gzip");
}

/** Gunzips an object body into its non-empty lines. */
export async function decodeLines(body: Uint8Array): Promise<string[]> {
  const text = new TextDecoder().decode(await decompress(body, "gzip"));
  return text.split("\n").filter((line) => line.length > 0);
}

async function compress(
  data: Uint8Array,
  format: CompressionFormat,
): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream(format),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function decompress(
  data: Uint8Array,
  format: CompressionFormat,
): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new DecompressionStream(format),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
