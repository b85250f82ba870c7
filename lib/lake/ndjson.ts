/**
 * The lake's object format: gzip-compressed NDJSON, one event a line.
 *
 * @module
 */
import { promisify } from "node:util";
import { gunzip, gzip, gzipSync } from "node:zlib";

const gzipAsync = promisify(gzip);
/**
 * The gzip level of every object: 3 compresses NDJSON about twice as fast
 * as zlib's default (6), for objects about 6 % larger.
 */
const GZIP_LEVEL = 3;
const gunzipAsync = promisify(gunzip);

/**
 * Gzips NDJSON lines into an object body. Under Deno, node:zlib compresses
 * on the calling thread: the event loop is blocked meanwhile, however the
 * call is awaited (the landing gzips on worker threads instead,
 * lib/land/encoder_pool.ts).
 */
export async function encodeLines(lines: string[]): Promise<Uint8Array> {
  const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
  return new Uint8Array(await gzipAsync(text, { level: GZIP_LEVEL }));
}

/**
 * Gzips NDJSON lines into an object body, synchronously: for a worker
 * thread, where blocking is the point (lib/land/encode_worker.ts). Gives the
 * same bytes as {@linkcode encodeLines}.
 */
export function encodeLinesSync(lines: string[]): Uint8Array {
  const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
  return new Uint8Array(gzipSync(text, { level: GZIP_LEVEL }));
}

/**
 * Gzips NDJSON already written as UTF-8 bytes (each line ending in a
 * newline) into an object body, synchronously, for a worker thread as
 * {@linkcode encodeLinesSync}: the same lines give the same bytes.
 */
export function encodeNdjsonSync(ndjson: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(ndjson, { level: GZIP_LEVEL }));
}

/** Gunzips an object body into its non-empty lines (on the calling thread, as encodeLines). */
export async function decodeLines(body: Uint8Array): Promise<string[]> {
  const text = (await gunzipAsync(body)).toString("utf8");
  return text.split("\n").filter((line) => line.length > 0);
}

/**
 * The uncompressed size a gzip body's trailer gives (modulo 2^32), or
 * undefined when the body is too short to be gzip.
 *
 * @param body A gzip stream of one member, as the landing writer writes.
 * @returns Its uncompressed size modulo 2^32, or undefined.
 */
export function gzipSize(body: Uint8Array): number | undefined {
  if (body.length < 18) return undefined;
  return new DataView(body.buffer, body.byteOffset, body.byteLength)
    .getUint32(body.length - 4, true);
}

/**
 * The uncompressed size a gzip file's trailer gives (modulo 2^32), read
 * from its last four bytes, or undefined when the file is too short to be
 * gzip.
 *
 * @param path The file.
 * @returns Its uncompressed size modulo 2^32, or undefined.
 */
export async function gzipFileSize(path: string): Promise<number | undefined> {
  using file = await Deno.open(path);
  const { size } = await file.stat();
  if (size < 18) return undefined;
  await file.seek(size - 4, Deno.SeekMode.Start);
  const trailer = new Uint8Array(4);
  let read = 0;
  while (read < trailer.length) {
    const n = await file.read(trailer.subarray(read));
    if (n === null) return undefined;
    read += n;
  }
  return new DataView(trailer.buffer).getUint32(0, true);
}
