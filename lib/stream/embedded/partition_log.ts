/**
 * The producer's handle on one partition's log: appends to the active
 * segment, rolls it when it is full or old, and deletes the closed segments
 * retention lets go (`retention.ts` decides). A torn last line left by a
 * crash in the active segment is cut off when the log is opened, so appends
 * continue from the last complete record.
 *
 * @module
 */
import { join } from "node:path";
import { logger } from "../../runtime/log.ts";
import {
  type ClosedSegment,
  type Expired,
  expiredSegments,
  type RetentionPolicy,
  rollReason,
} from "./retention.ts";
import { lastCompleteLine, parseRecord, readFirstRecord } from "./records.ts";
import {
  listSegments,
  migrateLegacyLog,
  partitionDir,
  segmentName,
  syncDirectory,
} from "./segments.ts";

const log = logger("stream");

/** The segment being appended to. */
interface ActiveSegment {
  base: number;
  path: string;
  file: Deno.FsFile;
  bytes: number;
  /** Timestamp of its first record; `null` while it is empty. */
  oldest: number | null;
  /** Timestamp of its last record; `null` while it is empty. */
  newest: number | null;
}

/** Where a partition log lives and how it is kept. */
export interface PartitionLogSetup {
  /** The topic's directory. */
  topicDir: string;
  /** The partition. */
  partition: number;
  /** Roll and retention limits. */
  policy: RetentionPolicy;
}

/** An append handle on one partition's log. */
export class PartitionLog {
  /** The partition. */
  readonly partition: number;
  /** The offset the next record gets. */
  nextOffset: number;
  #dir: string;
  #policy: RetentionPolicy;
  #closed: (ClosedSegment & { path: string })[];
  #active: ActiveSegment;

  private constructor(
    setup: PartitionLogSetup,
    closed: (ClosedSegment & { path: string })[],
    active: ActiveSegment,
    nextOffset: number,
  ) {
    this.partition = setup.partition;
    this.#dir = partitionDir(setup.topicDir, setup.partition);
    this.#policy = setup.policy;
    this.#closed = closed;
    this.#active = active;
    this.nextOffset = nextOffset;
  }

  /**
   * Opens a partition's log for appending: moves a log of the layout before
   * segments into place, creates the first segment of a new partition, and
   * drops a torn last line of the active segment.
   *
   * @throws {Error} When a segment does not continue the one before it.
   */
  static async open(setup: PartitionLogSetup): Promise<PartitionLog> {
    const { topicDir, partition } = setup;
    await migrateLegacyLog(topicDir, partition);
    const dir = partitionDir(topicDir, partition);
    let segments = await listSegments(topicDir, partition);
    if (segments.length === 0) {
      await Deno.mkdir(dir, { recursive: true });
      await createSegment(dir, 0);
      segments = await listSegments(topicDir, partition);
    }
    const closed: (ClosedSegment & { path: string })[] = [];
    for (let i = 0; i + 1 < segments.length; i++) {
      const { base, path } = segments[i];
      const end = segments[i + 1].base;
      using file = await Deno.open(path, { read: true });
      const { size } = await file.stat();
      const { line } = await lastCompleteLine(file, size);
      const last = line === null ? null : parseRecord(line, path);
      if (last !== null && last.o + 1 !== end) {
        throw new Error(
          `Cannot open the embedded stream as ${path} ends at offset ${last.o} but the next segment starts at ${end}`,
        );
      }
      closed.push({ base, end, path, bytes: size, newest: last?.ts ?? 0 });
    }

    const { base, path } = segments[segments.length - 1];
    const file = await Deno.open(path, { read: true, write: true });
    const { size } = await file.stat();
    const tail = await lastCompleteLine(file, size);
    if (tail.end < size) await file.truncate(tail.end);
    const first = await readFirstRecord(file, path);
    await file.seek(0, Deno.SeekMode.End);
    const last = tail.line === null ? null : parseRecord(tail.line, path);
    const active: ActiveSegment = {
      base,
      path,
      file,
      bytes: tail.end,
      oldest: first?.ts ?? null,
      newest: last?.ts ?? null,
    };
    return new PartitionLog(
      setup,
      closed,
      active,
      last === null ? base : last.o + 1,
    );
  }

  /** The offset of the oldest record kept. */
  get startOffset(): number {
    return this.#closed[0]?.base ?? this.#active.base;
  }

  /** Bytes on disk, every segment included. */
  get bytes(): number {
    return this.#closed.reduce((n, s) => n + s.bytes, this.#active.bytes);
  }

  /**
   * Appends encoded records stamped `timestamp` (not yet durable), first
   * rolling the active segment when they would take it past its size, or
   * when it is old enough.
   *
   * @param bytes The records, each ending in a newline.
   * @param first The offset of the first of them: a new segment's base.
   * @param timestamp Their timestamp.
   * @returns Whether the active segment rolled.
   */
  async append(
    bytes: Uint8Array,
    first: number,
    timestamp: number,
  ): Promise<boolean> {
    const reason = rollReason(
      this.#active,
      bytes.length,
      timestamp,
      this.#policy,
    );
    if (reason !== null) await this.#roll(reason, first, timestamp);
    let written = 0;
    while (written < bytes.length) {
      written += await this.#active.file.write(bytes.subarray(written));
    }
    this.#active.bytes += bytes.length;
    this.#active.oldest ??= timestamp;
    this.#active.newest = timestamp;
    return reason !== null;
  }

  /** Makes what was appended durable. */
  async sync(): Promise<void> {
    await this.#active.file.syncData();
  }

  /**
   * Deletes the closed segments retention lets go, oldest first, logging each.
   *
   * @param now The clock, epoch ms.
   * @param committed The lowest offset a consumer group committed on this
   * partition, if any group did.
   * @returns The segments deleted.
   */
  async applyRetention(
    now: number,
    committed: number | undefined,
  ): Promise<Expired[]> {
    const expired = expiredSegments(
      this.#closed,
      this.bytes,
      now,
      this.#policy,
      committed,
    );
    for (const { segment, reason } of expired) {
      const { path } = this.#closed.shift()!;
      await Deno.remove(path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      log.info("deleted stream segment", {
        partition: this.partition,
        segment: path,
        offsets: `${segment.base}..${segment.end}`,
        bytes: segment.bytes,
        reason,
        limit: reason === "size"
          ? `${this.#policy.retentionBytes} bytes`
          : `${this.#policy.retentionMs} ms`,
        log_start: this.startOffset,
      });
    }
    return expired;
  }

  async #roll(
    reason: "size" | "age",
    base: number,
    now: number,
  ): Promise<void> {
    const previous = this.#active;
    const file = await createSegment(this.#dir, base);
    previous.file.close();
    this.#closed.push({
      base: previous.base,
      end: base,
      path: previous.path,
      bytes: previous.bytes,
      newest: previous.newest ?? now,
    });
    this.#active = {
      base,
      path: join(this.#dir, segmentName(base)),
      file,
      bytes: 0,
      oldest: null,
      newest: null,
    };
    log.debug("rolled stream segment", {
      partition: this.partition,
      segment: this.#active.path,
      reason,
      limit: reason === "size"
        ? `${this.#policy.segmentBytes} bytes`
        : `${this.#policy.segmentMs} ms`,
    });
  }

  /** Closes the active segment's file. */
  close(): void {
    this.#active.file.close();
  }
}

/** Creates an empty segment at `base` and makes its name durable. */
async function createSegment(dir: string, base: number): Promise<Deno.FsFile> {
  const file = await Deno.open(join(dir, segmentName(base)), {
    read: true,
    write: true,
    createNew: true,
  });
  await syncDirectory(dir);
  return file;
}
