/**
 * The embedded stream's consumer: tails each partition's segments, hands
 * batches to the handlers in offset order, and keeps the group's committed
 * offsets (with the segment and byte position after each) in
 * `offsets/<group>.json`, written atomically. While it runs it holds the
 * group's lock (`group_lock.ts`), so a second consumer of the group is
 * refused rather than reading everything again.
 *
 * A group whose committed offset was deleted by retention resumes at the log
 * start, with a warning naming how many offsets it lost: the records are gone
 * either way, and stopping would also hold back every later one.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { logger } from "../../runtime/log.ts";
import { sleep } from "../../runtime/retry.ts";
import type {
  ConsumerHandlers,
  MessageBatch,
  PartitionOffset,
  StreamConsumer,
  StreamMessage,
} from "../stream.ts";
import { lockGroup } from "./group_lock.ts";
import {
  concat,
  lastCompleteLine,
  NEWLINE,
  parseRecord,
  READ_CHUNK,
} from "./records.ts";
import {
  listSegments,
  partitionDir,
  type Segment,
  segmentIndexFor,
  segmentName,
  syncDirectory,
} from "./segments.ts";

const log = logger("stream");
/** No bytes: what `pending` holds between lines (never written to). */
const EMPTY = new Uint8Array(0);

/** Where a consumer reads and keeps its offsets. */
export interface ConsumerSetup {
  /** The topic. */
  topic: string;
  /** The topic's directory. */
  topicDir: string;
  /** Partitions of the topic. */
  partitions: number;
  /** The consumer group. */
  group: string;
  /** The group's committed offsets. */
  offsetsPath: string;
  /** The group's lock, held while the consumer runs. */
  lockPath: string;
  /** Most messages in one batch. */
  maxBatch: number;
  /** Wait before looking again at a log read to its end, in milliseconds. */
  pollMs: number;
}

/** Where a batch ended: what a commit records beside the offset. */
interface Boundary {
  /** Base offset of the segment. */
  segment: number;
  /** Byte position in it. */
  position: number;
}

/** Read position in one partition's log. */
interface Cursor {
  /** The open segment; `null` until the partition has one. */
  file: Deno.FsFile | null;
  /** The open segment's path and base offset. */
  segment: Segment | null;
  /** Byte position of the next unread line in the open segment. */
  position: number;
  /** Offset of the next unread line. */
  offset: number;
  /** Bytes read past `position` that do not yet end in a newline. */
  pending: Uint8Array;
  /** Where the next unread line is, for an error. */
  where: () => string;
  /** The path the segment after this one would have, for `offset`. */
  nextPath: string;
  /** The offset `nextPath` was built for. */
  nextFor: number;
  /** Where each handed-over batch ended, by next offset, for commits. */
  boundaries: Map<number, Boundary>;
}

type Committed = Record<
  string,
  { offset: number; segment?: number; position?: number }
>;

/** A member of a consumer group of the embedded stream. */
export class EmbeddedConsumer implements StreamConsumer {
  #setup: ConsumerSetup;
  #stopping = new AbortController();
  #running: Promise<void> | null = null;
  #cursors: Cursor[] = [];
  #commits: Promise<void> = Promise.resolve();
  /** The read buffer, shared as partitions are read one after another. */
  #chunk = new Uint8Array(READ_CHUNK);
  #decoder = new TextDecoder();

  constructor(setup: ConsumerSetup) {
    this.#setup = setup;
  }

  run(handlers: ConsumerHandlers): Promise<void> {
    if (this.#running) {
      return Promise.reject(new Error("Cannot run the consumer twice"));
    }
    this.#running = this.#loop(handlers);
    return this.#running;
  }

  async #loop(handlers: ConsumerHandlers): Promise<void> {
    const { lockPath, group, topicDir } = this.#setup;
    using _lock = await lockGroup(lockPath, group, topicDir);
    const committed = await this.#readCommitted();
    this.#cursors = await Promise.all(
      Array.from(
        { length: this.#setup.partitions },
        (_, p) => this.#openCursor(p, committed[p]),
      ),
    );
    const all = this.#cursors.map((_, p) => p);
    try {
      while (!this.#stopping.signal.aborted) {
        let delivered = 0;
        for (
          let p = 0;
          p < this.#cursors.length && !this.#stopping.signal.aborted;
          p++
        ) {
          const batch = await this.#readBatch(p);
          if (batch.messages.length === 0) continue;
          delivered += batch.messages.length;
          await handlers.onBatch(batch);
        }
        if (delivered === 0) {
          await sleep(this.#setup.pollMs, this.#stopping.signal).catch(
            () => {},
          );
        }
      }
    } finally {
      await handlers.onRevoked(all);
      await this.#commits;
      for (const cursor of this.#cursors) cursor.file?.close();
    }
  }

  async #readBatch(partition: number): Promise<MessageBatch> {
    const cursor = this.#cursors[partition];
    const messages: StreamMessage[] = [];
    if (cursor.file === null && !await this.#openFirst(partition)) {
      return { topic: this.#setup.topic, partition, messages };
    }
    while (messages.length < this.#setup.maxBatch) {
      let newline = cursor.pending.indexOf(NEWLINE);
      if (newline === -1) {
        // One read buffer per consumer, as partitions are read one after
        // another and concat copies what was read: an idle poll allocates
        // no buffer.
        const chunk = this.#chunk;
        await cursor.file!.seek(
          cursor.position + cursor.pending.length,
          Deno.SeekMode.Start,
        );
        const n = await cursor.file!.read(chunk);
        if (n === null || n === 0) {
          // A partial line at the end is read again next time: a producer
          // that crashed mid-write cuts it off and writes other bytes there.
          const partial = cursor.pending.length;
          cursor.pending = EMPTY;
          if (messages.length > 0) break;
          if (!await this.#nextSegment(partition, partial)) break;
          continue;
        }
        cursor.pending = concat([cursor.pending, chunk.subarray(0, n)]);
        newline = cursor.pending.indexOf(NEWLINE);
        if (newline === -1) continue;
      }
      const line = this.#decoder.decode(cursor.pending.subarray(0, newline));
      const record = parseRecord(line, cursor.where);
      if (record.o !== cursor.offset) {
        throw new Error(
          `Cannot read the embedded stream as ${
            cursor.segment!.path
          } jumps from offset ${cursor.offset} to ${record.o} at byte ${cursor.position}`,
        );
      }
      messages.push({
        topic: this.#setup.topic,
        partition,
        offset: record.o,
        key: record.k,
        value: record.v,
        timestamp: record.ts,
      });
      cursor.position += newline + 1;
      cursor.offset += 1;
      cursor.pending = cursor.pending.subarray(newline + 1);
    }
    if (messages.length > 0) {
      cursor.boundaries.set(cursor.offset, {
        segment: cursor.segment!.base,
        position: cursor.position,
      });
    }
    return { topic: this.#setup.topic, partition, messages };
  }

  /**
   * At the end of the open segment: moves to the next one when it exists, or
   * past segments that retention deleted. Cheap when neither holds (an idle
   * poll): one or two `stat`s, no listing.
   *
   * @param partial Bytes of a partial line found at the end.
   * @returns Whether there is more to read now.
   */
  async #nextSegment(partition: number, partial: number): Promise<boolean> {
    const cursor = this.#cursors[partition];
    const segment = cursor.segment!;
    if (cursor.nextFor !== cursor.offset) {
      cursor.nextPath = join(
        partitionDir(this.#setup.topicDir, partition),
        segmentName(cursor.offset),
      );
      cursor.nextFor = cursor.offset;
    }
    // An empty segment has no next one: the next one's base would be its own.
    if (cursor.offset > segment.base && existsSync(cursor.nextPath)) {
      // The producer never writes a segment once the next one exists; what
      // it wrote before that may have arrived after the read that found the end.
      const { size } = await cursor.file!.stat();
      if (size > cursor.position + partial) return true;
      if (partial > 0) {
        throw new Error(
          `Cannot read the embedded stream as ${segment.path} ends in a partial record at byte ${cursor.position} though ${cursor.nextPath} follows it`,
        );
      }
      this.#switchTo(cursor, { base: cursor.offset, path: cursor.nextPath });
      cursor.file = await Deno.open(cursor.nextPath, { read: true });
      return true;
    }
    if (existsSync(segment.path)) return false;
    // Gone from its path: moved into the partition's directory (a log of the
    // layout before segments), or deleted by retention with the next ones.
    const opened = await openSegment(
      this.#setup.topicDir,
      partition,
      cursor.offset,
    );
    if (opened === null) return false;
    if (opened.segment.base === segment.base) {
      opened.file.close();
      cursor.segment = opened.segment;
      return false;
    }
    if (opened.segment.base > cursor.offset) {
      this.#warnLost(partition, cursor.offset, opened.segment.base);
    }
    this.#switchTo(cursor, opened.segment);
    cursor.offset = opened.segment.base;
    cursor.file = opened.file;
    return true;
  }

  #switchTo(cursor: Cursor, segment: Segment): void {
    cursor.file?.close();
    cursor.file = null;
    cursor.segment = segment;
    cursor.position = 0;
    cursor.pending = EMPTY;
  }

  /** Opens the first segment of a partition read from its log start; false while it has none. */
  async #openFirst(partition: number): Promise<boolean> {
    const cursor = this.#cursors[partition];
    const opened = await openSegment(
      this.#setup.topicDir,
      partition,
      cursor.offset,
    );
    if (opened === null) return false;
    // Nothing was committed here (the partition had no log at the start).
    cursor.offset = Math.max(cursor.offset, opened.segment.base);
    this.#switchTo(cursor, opened.segment);
    cursor.file = opened.file;
    cursor.position = await positionOf(opened, cursor.offset);
    return true;
  }

  /** Opens a read cursor at a committed offset, seeking to its byte position when known. */
  async #openCursor(
    partition: number,
    committed: Committed[string] | undefined,
  ): Promise<Cursor> {
    const cursor: Cursor = {
      file: null,
      segment: null,
      position: 0,
      offset: committed?.offset ?? 0,
      pending: EMPTY,
      where: () => `${cursor.segment?.path} at byte ${cursor.position}`,
      nextPath: "",
      nextFor: -1,
      boundaries: new Map(),
    };
    const opened = await openSegment(
      this.#setup.topicDir,
      partition,
      cursor.offset,
    );
    if (opened === null) {
      if (cursor.offset > 0) {
        throw new Error(
          `Cannot resume the embedded stream as partition ${partition} has no log in ${this.#setup.topicDir} but offset ${cursor.offset} was committed`,
        );
      }
      return cursor;
    }
    const { segment, file } = opened;
    if (segment.base > cursor.offset) {
      if (committed !== undefined) {
        this.#warnLost(partition, cursor.offset, segment.base);
      }
      cursor.offset = segment.base;
    }
    cursor.segment = segment;
    cursor.file = file;
    // A position committed before segments existed is in the segment at 0.
    const known = committed?.offset === cursor.offset &&
        committed.position !== undefined &&
        (committed.segment ?? 0) === segment.base
      ? committed.position
      : undefined;
    cursor.position = known ?? await positionOf(opened, cursor.offset);
    return cursor;
  }

  #warnLost(partition: number, from: number, start: number): void {
    log.warn("offsets lost to retention", {
      group: this.#setup.group,
      partition,
      from,
      log_start: start,
      lost: start - from,
    });
  }

  commit(offsets: PartitionOffset[]): Promise<void> {
    const run = this.#commits.then(async () => {
      const committed = await this.#readCommitted();
      for (const { partition, offset } of offsets) {
        const cursor = this.#cursors[partition];
        const boundary = cursor?.boundaries.get(offset);
        committed[partition] = boundary === undefined
          ? { offset }
          : { offset, ...boundary };
        for (const next of cursor?.boundaries.keys() ?? []) {
          if (next <= offset) cursor.boundaries.delete(next);
        }
      }
      await writeAtomically(
        this.#setup.offsetsPath,
        JSON.stringify(committed) + "\n",
      );
    });
    this.#commits = run.catch(() => {});
    return run;
  }

  /** Each partition's log start: the base offset of its oldest segment. */
  async startOffsets(): Promise<PartitionOffset[]> {
    return await Promise.all(
      Array.from({ length: this.#setup.partitions }, async (_, partition) => {
        const segments = await listSegments(this.#setup.topicDir, partition);
        return { partition, offset: segments[0]?.base ?? 0 };
      }),
    );
  }

  async endOffsets(): Promise<PartitionOffset[]> {
    return await Promise.all(
      Array.from({ length: this.#setup.partitions }, async (_, partition) => {
        const segments = await listSegments(this.#setup.topicDir, partition);
        const active = segments.at(-1);
        if (active === undefined) return { partition, offset: 0 };
        using file = await Deno.open(active.path, { read: true });
        const { line } = await lastCompleteLine(file, (await file.stat()).size);
        return {
          partition,
          offset: line === null
            ? active.base
            : parseRecord(line, active.path).o + 1,
        };
      }),
    );
  }

  async committedOffsets(): Promise<PartitionOffset[]> {
    const committed = await this.#readCommitted();
    return Object.entries(committed)
      .map(([partition, { offset }]) => ({
        partition: Number(partition),
        offset,
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running?.catch(() => {});
  }

  async #readCommitted(): Promise<Committed> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#setup.offsetsPath));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return {};
      throw error;
    }
  }
}

/** A segment opened for reading, and whether a later one follows it. */
interface OpenedSegment {
  segment: Segment;
  file: Deno.FsFile;
  last: boolean;
}

/**
 * Opens the segment holding `offset`, or the partition's first segment when
 * `offset` is below its log start; `null` while the partition has none. A
 * segment deleted (or moved into place) between the listing and the open is
 * looked up again.
 */
async function openSegment(
  topicDir: string,
  partition: number,
  offset: number,
): Promise<OpenedSegment | null> {
  for (let attempt = 1;; attempt++) {
    const segments = await listSegments(topicDir, partition);
    if (segments.length === 0) return null;
    const index = Math.max(0, segmentIndexFor(segments, offset));
    try {
      return {
        segment: segments[index],
        file: await Deno.open(segments[index].path, { read: true }),
        last: index === segments.length - 1,
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || attempt === 5) {
        throw error;
      }
    }
  }
}

/**
 * The byte position of `offset` in a segment, by counting its lines from the
 * start: the cost follows the segment's size, not the partition's.
 *
 * @throws {Error} When the log ends before `offset`.
 */
async function positionOf(
  { segment, file, last }: OpenedSegment,
  offset: number,
): Promise<number> {
  if (offset <= segment.base) return 0;
  const chunk = new Uint8Array(READ_CHUNK);
  await file.seek(0, Deno.SeekMode.Start);
  let position = 0;
  let at = segment.base;
  while (at < offset) {
    const n = await file.read(chunk);
    if (n === null) break;
    for (let i = 0; i < n && at < offset; i++) {
      if (chunk[i] === NEWLINE) at++;
      position++;
    }
  }
  if (at < offset) {
    throw new Error(
      `Cannot resume the embedded stream as ${segment.path} ends at offset ${at}, before the committed offset ${offset}${
        last ? "" : " though a later segment follows it"
      }`,
    );
  }
  return position;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, text);
  using file = await Deno.open(temp, { read: true, write: true });
  await file.sync();
  await Deno.rename(temp, path);
  // The rename is durable only once the directory holding it is synced.
  await syncDirectory(dirname(path));
}
