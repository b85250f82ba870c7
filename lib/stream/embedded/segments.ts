/**
 * The files that make a partition's log, as Kafka lays them out: a directory
 * `partition-<n>/` of segment files, each named by the offset of its first
 * record (`00000000000000000000.log`, 20 digits, so names sort as offsets).
 * The last segment is the active one, the only one appended to; the others
 * are closed and are only ever read or deleted whole (retention). The first
 * segment's base offset is the partition's log start.
 *
 * A topic written before segments holds one file per partition,
 * `partition-<n>.log`, whose first offset is 0. Readers take that file as the
 * partition's first segment; the producer moves it into the directory once
 * ({@linkcode migrateLegacyLog}), without a moment where the records are in
 * neither place.
 *
 * @module
 */
import { join } from "node:path";

/** One segment file of a partition's log. */
export interface Segment {
  /** Offset of its first record, which names it. */
  base: number;
  /** Its path. */
  path: string;
}

const SEGMENT_NAME = /^(\d{20})\.log$/;

/** The directory of a partition's segments. */
export function partitionDir(topicDir: string, partition: number): string {
  return join(topicDir, `partition-${partition}`);
}

/** The single log file of a partition written before segments existed. */
export function legacyLogPath(topicDir: string, partition: number): string {
  return join(topicDir, `partition-${partition}.log`);
}

/** The file name of the segment whose first record has offset `base`. */
export function segmentName(base: number): string {
  return `${String(base).padStart(20, "0")}.log`;
}

/**
 * The segments of a partition, base offsets ascending: the files of its
 * directory, and a log file of the layout before segments as the segment at
 * offset 0 unless it has been moved in already. None when the partition was
 * never written.
 */
export async function listSegments(
  topicDir: string,
  partition: number,
): Promise<Segment[]> {
  const dir = partitionDir(topicDir, partition);
  const segments: Segment[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = entry.isFile ? SEGMENT_NAME.exec(entry.name) : null;
      if (match) {
        segments.push({ base: Number(match[1]), path: join(dir, entry.name) });
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  segments.sort((a, b) => a.base - b.base);
  if (segments[0]?.base !== 0) {
    const legacy = legacyLogPath(topicDir, partition);
    if (await exists(legacy)) segments.unshift({ base: 0, path: legacy });
  }
  return segments;
}

/**
 * The index of the segment holding `offset`: the last one whose base offset
 * is at most `offset` (-1 when `offset` is before the first).
 */
export function segmentIndexFor(segments: Segment[], offset: number): number {
  let index = -1;
  for (let i = 0; i < segments.length && segments[i].base <= offset; i++) {
    index = i;
  }
  return index;
}

/**
 * Moves a partition's log file of the layout before segments into its
 * directory as the segment at offset 0, once. The file is linked under its
 * new name before the old name is removed, so a crash between the two leaves
 * both names on the same file, which the next call finishes. Call it only
 * while holding the topic's producer lock.
 *
 * @returns Whether a file was moved.
 * @throws {Error} When both names exist and are different files.
 */
export async function migrateLegacyLog(
  topicDir: string,
  partition: number,
): Promise<boolean> {
  const legacy = legacyLogPath(topicDir, partition);
  if (!await exists(legacy)) return false;
  const dir = partitionDir(topicDir, partition);
  const target = join(dir, segmentName(0));
  await Deno.mkdir(dir, { recursive: true });
  try {
    await Deno.link(legacy, target);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    const [from, to] = await Promise.all([
      Deno.stat(legacy),
      Deno.stat(target),
    ]);
    if (from.ino !== to.ino || from.dev !== to.dev) {
      throw new Error(
        `Cannot move the embedded stream's ${legacy} to ${target} as both exist and are different files: keep the one holding the partition's records and delete the other`,
      );
    }
  }
  await syncDirectory(dir);
  await Deno.remove(legacy);
  await syncDirectory(topicDir);
  return true;
}

/** Makes the entries of a directory (a file created, renamed or removed) durable. */
export async function syncDirectory(path: string): Promise<void> {
  using directory = await Deno.open(path, { read: true });
  await directory.sync();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
