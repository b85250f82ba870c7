/**
 * The records of the embedded stream's log files: one JSON record a line, and
 * how to read them back (the last complete lines of a file, a record's
 * fields). A torn last line left by a crash is never read. Which files make a
 * partition's log is `segments.ts`'s concern; appending, `partition_log.ts`'s.
 *
 * @module
 */

/** One line of a partition log. */
export interface LogRecord {
  /** Offset. */
  o: number;
  /** Timestamp, epoch milliseconds. */
  ts: number;
  /** Key. */
  k: string | null;
  /** Value. */
  v: string;
}

const TAIL_CHUNK = 64 * 1024;
/** Bytes a reader takes from a log file at a time. */
export const READ_CHUNK = 1024 * 1024;
/** The byte that ends each record. */
export const NEWLINE = 0x0a;

/**
 * Finds the last newline-terminated line of a file by reading backwards from
 * `size`; `end` is the byte just after it (where a torn tail begins).
 */
export async function lastCompleteLine(
  file: Deno.FsFile,
  size: number,
): Promise<{ line: string | null; end: number }> {
  const { lines, end } = await lastCompleteLines(file, size, 1);
  return { line: lines.at(-1) ?? null, end };
}

/**
 * Finds the last `count` newline-terminated lines of a file (fewer when it
 * holds fewer) by reading backwards from `size`, so the bytes read follow
 * `count`, not the file's length; `end` is the byte just after the last one.
 */
export async function lastCompleteLines(
  file: Deno.FsFile,
  size: number,
  count: number,
): Promise<{ lines: string[]; end: number }> {
  let start = size;
  let buffer: Uint8Array = new Uint8Array(0); // holds the file's bytes [start, size)
  let end = -1;
  while (start > 0) {
    const from = Math.max(0, start - TAIL_CHUNK);
    buffer = concat([await readAt(file, from, start - from), buffer]);
    start = from;
    if (end === -1) {
      const last = buffer.lastIndexOf(NEWLINE);
      if (last === -1) continue;
      end = start + last + 1;
    }
    const last = end - 1 - start;
    // Walk back over `count` newlines: the one before the first wanted line.
    let cut = last;
    let found = 0;
    while (found < count && cut > 0) {
      const previous = buffer.lastIndexOf(NEWLINE, cut - 1);
      if (previous === -1) break;
      cut = previous;
      found++;
    }
    if (found === count || start === 0) {
      const first = found === count ? cut + 1 : 0;
      const text = new TextDecoder().decode(buffer.subarray(first, last));
      return { lines: text.split("\n"), end };
    }
  }
  return { lines: [], end: Math.max(end, 0) };
}

/**
 * The last `count` records of a partition log (fewer when it holds fewer;
 * none when it does not exist), offsets ascending. A torn last line is not
 * read.
 *
 * @throws {Error} When a line read is not a record.
 */
export async function readLastRecords(
  path: string,
  count: number,
): Promise<LogRecord[]> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  try {
    const { lines } = await lastCompleteLines(
      file,
      (await file.stat()).size,
      count,
    );
    return lines.map((line) => parseRecord(line, path));
  } finally {
    file.close();
  }
}

/**
 * The first complete record of a file, or `null` when it holds none.
 *
 * @throws {Error} When its first line is not a record, naming `path`.
 */
export async function readFirstRecord(
  file: Deno.FsFile,
  path: string,
): Promise<LogRecord | null> {
  let head: Uint8Array = new Uint8Array(0);
  for (let position = 0;; position += TAIL_CHUNK) {
    const chunk = await readAt(file, position, TAIL_CHUNK);
    head = concat([head, chunk]);
    const newline = head.indexOf(NEWLINE);
    if (newline !== -1) {
      return parseRecord(
        new TextDecoder().decode(head.subarray(0, newline)),
        path,
      );
    }
    if (chunk.length < TAIL_CHUNK) return null;
  }
}

/** Reads up to `length` bytes of `file` from `position` (fewer at its end). */
export async function readAt(
  file: Deno.FsFile,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let read = 0;
  while (read < length) {
    const n = await file.read(out.subarray(read));
    if (n === null) break;
    read += n;
  }
  return out.subarray(0, read);
}

/** The chunks, joined into one array. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Reads one log line as a record.
 *
 * @param line The line, without its newline.
 * @param where Where it was read, for the error (a function, so that a
 * reader builds the text only on an error).
 * @throws {Error} When it is not a record, naming `where`.
 */
export function parseRecord(
  line: string,
  where: string | (() => string),
): LogRecord {
  try {
    const record = JSON.parse(line) as LogRecord;
    if (Number.isSafeInteger(record.o) && typeof record.v === "string") {
      return record;
    }
  } catch {
    // fall through to the error below
  }
  throw new Error(
    `Cannot read the embedded stream as ${
      typeof where === "string" ? where : where()
    } holds a corrupt record: ${line.slice(0, 120)}`,
  );
}
