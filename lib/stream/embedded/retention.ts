/**
 * When the embedded stream rolls a partition's active segment and which
 * closed segments it deletes, as Kafka's `segment.bytes`, `segment.ms`,
 * `retention.ms` and `retention.bytes` decide it, with one difference: age
 * alone never deletes records a consumer group has not committed past. The
 * size limit does, as it bounds the disk.
 *
 * Decisions only: the producer's partition logs apply them
 * (`partition_log.ts`).
 *
 * @module
 */
import { join } from "node:path";

/** How a partition's log is cut into segments and how long they are kept. */
export interface RetentionPolicy {
  /** A closed segment whose newest record is older than this is deleted, in ms. */
  retentionMs: number;
  /** Closed segments are deleted, oldest first, while the rest still hold this many bytes. */
  retentionBytes: number;
  /** The active segment is closed before a send would take it past this many bytes. */
  segmentBytes: number;
  /** The active segment is closed once its first record is this old, in ms. */
  segmentMs: number;
}

const HOUR_MS = 60 * 60 * 1000;

/** Seven days, one GiB per partition, segments of 64 MiB or one day. */
export const DEFAULT_RETENTION: RetentionPolicy = {
  retentionMs: 7 * 24 * HOUR_MS,
  retentionBytes: 1024 * 1024 * 1024,
  segmentBytes: 64 * 1024 * 1024,
  segmentMs: 24 * HOUR_MS,
};

/** What retention needs to know of a closed segment. */
export interface ClosedSegment {
  /** Offset of its first record. */
  base: number;
  /** Offset just after its last record: the next segment's base. */
  end: number;
  /** Its size in bytes. */
  bytes: number;
  /** Timestamp of its newest record, epoch ms. */
  newest: number;
}

/** Why the active segment rolls, or `null` when it does not. */
export function rollReason(
  active: { bytes: number; oldest: number | null },
  adding: number,
  now: number,
  policy: RetentionPolicy,
): "size" | "age" | null {
  if (active.bytes === 0) return null;
  if (active.bytes + adding > policy.segmentBytes) return "size";
  if (active.oldest !== null && now - active.oldest >= policy.segmentMs) {
    return "age";
  }
  return null;
}

/** A closed segment retention deletes, and why. */
export interface Expired {
  /** The segment. */
  segment: ClosedSegment;
  /** `size`: the partition holds more than `retentionBytes` without it; `age`: older than `retentionMs` and committed past by every group. */
  reason: "size" | "age";
}

/**
 * The closed segments to delete, oldest first (always a prefix: the log
 * start only moves forward).
 *
 * @param closed The partition's closed segments, oldest first.
 * @param totalBytes The partition's size, active segment included.
 * @param now The clock, epoch ms.
 * @param policy The limits.
 * @param committed The lowest offset committed by any consumer group on this
 * partition (`undefined` when no group has committed): age does not delete a
 * segment ending after it.
 */
export function expiredSegments(
  closed: ClosedSegment[],
  totalBytes: number,
  now: number,
  policy: RetentionPolicy,
  committed: number | undefined,
): Expired[] {
  const expired: Expired[] = [];
  let remaining = totalBytes;
  for (const segment of closed) {
    const bySize = remaining - segment.bytes >= policy.retentionBytes;
    const byAge = now - segment.newest > policy.retentionMs &&
      (committed === undefined || segment.end <= committed);
    if (!bySize && !byAge) break;
    expired.push({ segment, reason: bySize ? "size" : "age" });
    remaining -= segment.bytes;
  }
  return expired;
}

/**
 * The lowest offset committed by any consumer group, per partition, from the
 * groups' files in `offsetsDir`. A group that has a file but no commit on a
 * partition counts as at offset 0 there, so its unread records are kept too.
 */
export async function lowestCommitted(
  offsetsDir: string,
  partitions: number,
): Promise<(number | undefined)[]> {
  const lowest: (number | undefined)[] = Array(partitions).fill(undefined);
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(offsetsDir));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile || !entry.name.endsWith(".json")) continue;
    let committed: Record<string, { offset: number }>;
    try {
      committed = JSON.parse(
        await Deno.readTextFile(join(offsetsDir, entry.name)),
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // deleted meanwhile
      throw error;
    }
    for (let p = 0; p < partitions; p++) {
      const offset = committed[p]?.offset ?? 0;
      lowest[p] = Math.min(lowest[p] ?? offset, offset);
    }
  }
  return lowest;
}
