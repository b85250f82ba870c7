/**
 * The lake seam: an object store holding the raw landed events (Bronze).
 *
 * Two implementations share these semantics: an S3 bucket through
 * `@aws-sdk/client-s3` (`lib/lake/s3.ts`, when `S3_BUCKET` is set) and a local
 * directory with the same keys (`lib/lake/local.ts`). The key layout is
 * ./keys.ts; the object format ./ndjson.ts.
 *
 * @module
 */
import { FatalError } from "../runtime/retry.ts";
import { decodeLines } from "./ndjson.ts";

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
   * ceiling on the count; with `startAfter`, only keys after it (S3's
   * `StartAfter`), so a listing from a high-water mark costs what lies after
   * the mark.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<LakeObject>;
  /**
   * Lists the folders directly under `prefix` (which ends in `/`), in key
   * order, each as its prefix ending in `/` (S3's common prefixes with the
   * delimiter `/`); with `startAfter`, only folders after it.
   */
  folders(prefix: string, options?: ListOptions): AsyncIterable<string>;
  /**
   * The file that holds an object, when the lake is a directory on this
   * machine, so that a reader here (DuckDB) opens it in place instead of a
   * copy; absent (or undefined) for a remote lake.
   */
  localPath?(key: string): string;
}

/** Where a listing starts. */
export interface ListOptions {
  /** List only keys (or folders) that sort after this one. */
  startAfter?: string;
}

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
