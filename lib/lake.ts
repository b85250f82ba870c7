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
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { FatalError } from "./retry.ts";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

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
   * local: written, fsynced and linked into place). Objects are never
   * replaced: writing a key that exists succeeds only when the object holds
   * the same events (a retried upload), and otherwise throws
   * {@linkcode ObjectConflictError}.
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

/**
 * An object key exists already with other content: the stream reused offsets
 * (a recreated topic, a deleted embedded stream). Landing stops rather than
 * replace events that may not be loaded yet.
 */
export class ObjectConflictError extends FatalError {
  /** Creates the error for `key` in the lake at `location`. */
  constructor(location: string, key: string) {
    super(
      `Cannot write ${key} to ${location} as an object with other events already has that name: the stream reused its offsets (was the topic recreated, or the embedded stream deleted?); move the old objects away or use a new topic`,
    );
    this.name = "ObjectConflictError";
  }
}

/**
 * Whether two object bodies hold the same lines, so that finding `existing`
 * under a key being written makes the write a harmless retry.
 */
export async function sameObject(
  existing: Uint8Array,
  body: Uint8Array,
): Promise<boolean> {
  if (
    existing.length === body.length && existing.every((b, i) => b === body[i])
  ) return true;
  const [a, b] = await Promise.all([decodeLines(existing), decodeLines(body)]);
  return a.length === b.length && a.every((line, i) => line === b[i]);
}

/**
 * A short, key-safe tag of a stream's identity (8 hex digits of FNV-1a), so
 * that object names from different logs never meet even when their topics,
 * partitions and offsets do.
 */
export function streamTag(streamId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** Stream coordinates of the first and last message in an object. */
export interface ObjectCoordinates {
  /** Identity of the log (see `Stream.identity()`). */
  streamId: string;
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
 * The object name for a run of messages:
 * `<topic>+<stream tag>+<partition>+<first>+<last>.ndjson.gz` with zero-padded
 * offsets, so the same messages always land under the same name and a retried
 * upload meets its earlier attempt.
 */
export function objectName(coordinates: ObjectCoordinates): string {
  const { streamId, topic, partition, firstOffset, lastOffset } = coordinates;
  if (
    !Number.isSafeInteger(firstOffset) || firstOffset < 0 ||
    lastOffset < firstOffset
  ) {
    throw new RangeError(
      `Cannot name an object as the offsets must satisfy 0 <= first <= last: current values are ${firstOffset} and ${lastOffset}`,
    );
  }
  const pad = (n: number) => String(n).padStart(OFFSET_DIGITS, "0");
  return `${topic}+${streamTag(streamId)}+${partition}+${pad(firstOffset)}+${
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

/**
 * Gzips NDJSON lines into an object body. The compression runs on a thread
 * of the runtime's pool (node:zlib), not on the event loop.
 */
export async function encodeLines(lines: string[]): Promise<Uint8Array> {
  const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
  return new Uint8Array(await gzipAsync(text));
}

/** Gunzips an object body into its non-empty lines (off the event loop, as encodeLines). */
export async function decodeLines(body: Uint8Array): Promise<string[]> {
  const text = (await gunzipAsync(body)).toString("utf8");
  return text.split("\n").filter((line) => line.length > 0);
}
