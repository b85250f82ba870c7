/**
 * Reconciliation: does every event of the log reach the warehouse once?
 *
 * For one log (its identity and topic), partition by partition, it compares
 * the offsets in the stream, the events landed in the lake (and dead-letter),
 * the rows in RAW (and the loader's rejects) and, for the log as a whole,
 * silver (and its quarantine):
 *
 * - **lost**: an offset below the lake group's committed offset that is
 *   neither landed nor dead-lettered; a landed event of an object the ledger
 *   holds that is neither in RAW nor refused by the loader; a RAW row whose
 *   quote is neither in silver nor quarantined.
 * - **duplicated**: RAW rows beyond one per offset; silver rows beyond one
 *   per (symbol, quote time).
 * - **quarantined**: dead-lettered, refused by the loader, quarantined by
 *   silver: counted, kept, never lost.
 * - **pending**: offsets at or past the committed offset (not landed yet),
 *   events of objects not loaded yet: neither lost nor counted.
 *
 * Overlapping lake objects after a consumer crash hold some events twice;
 * that is `overlap`, expected and harmless, because RAW keeps each offset once.
 *
 * Memory follows the gaps, not the events: every set of offsets is kept as
 * runs of consecutive offsets (./offset_ranges.ts), RAW's runs are computed
 * in the warehouse's SQL (DuckDB's a window of offsets at a time), lake
 * objects are read a few at a time, objects of
 * other logs are not read, and the ledger is asked about a thousand keys at
 * a time. Ten million events without gaps are a handful of runs.
 *
 * The warehouse is read through `WarehouseInventory`
 * (lib/warehouse/inventory.ts); silver's lost and duplicated rows come from
 * the dbt model `silver_reconciliation`, so both warehouses count them alike.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import {
  DEAD_LETTER_PREFIX,
  OBJECT_SUFFIX,
  parseObjectKey,
  streamTag,
} from "../lake/keys.ts";
import type { Lake, LakeObject } from "../lake/lake.ts";
import { decodeLines } from "../lake/ndjson.ts";
import { mapLimit } from "../runtime/map_limit.ts";
import { OffsetRanges } from "./offset_ranges.ts";
import type { Stream } from "../stream/stream.ts";
import type {
  SilverInventory,
  WarehouseInventory,
} from "../warehouse/inventory.ts";

/** One partition at every stage. */
export interface PartitionReconciliation {
  /** The partition. */
  partition: number;
  /** Offsets the log holds: from `logStart` up to `logEnd` (exclusive). */
  logStart: number;
  /** One past the last offset. */
  logEnd: number;
  /** The lake group's committed offset (`logStart` when never committed). */
  committed: number;
  /** Distinct offsets landed as events. */
  landed: number;
  /** Landed lines beyond one per offset (overlapping objects). */
  overlap: number;
  /** Distinct offsets dead-lettered. */
  deadLettered: number;
  /** Distinct offsets in RAW. */
  raw: number;
  /** Offsets the loader refused (raw.rejected_stock_quotes). */
  rejected: number;
  /** Landed events of objects not loaded yet, and offsets not landed yet. */
  pending: number;
  /** Lost between stream and lake, or lake and RAW. */
  lost: number;
  /** RAW rows beyond one per offset. */
  duplicated: number;
}

/** The reconciliation of one log's topic. */
export interface Reconciliation {
  /** The log's identity. */
  streamId: string;
  /** The topic. */
  topic: string;
  /** Per partition. */
  partitions: PartitionReconciliation[];
  /** Silver, or null when not built. */
  silver: SilverInventory | null;
  /** Totals over partitions and silver. */
  totals: {
    events: number;
    landed: number;
    raw: number;
    quarantined: number;
    pending: number;
    lost: number;
    duplicated: number;
  };
}

/** Where reconciliation reads. */
export interface ReconcileSources {
  /**
   * The kind of event the topic carries, whose RAW table is read.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
  /** The stream (its topic is the one reconciled). */
  stream: Stream;
  /** The lake consumer's group, whose committed offsets mark what has landed. */
  groupId: string;
  /** The lake. */
  lake: Lake;
  /** The warehouse, as reconciliation reads it. */
  warehouse: WarehouseInventory;
}

/**
 * Reconciles one log's topic from stream to silver.
 *
 * @param sources Stream, group, lake and warehouse.
 * @returns The counts; `totals.lost` and `totals.duplicated` should be 0.
 */
export async function reconcile(
  sources: ReconcileSources,
): Promise<Reconciliation> {
  const { kind = "quotes", stream, groupId, lake, warehouse } = sources;
  const topic = stream.topic;
  const streamId = await stream.identity();
  const consumer = await stream.consumer(groupId);
  let starts, ends, commits;
  try {
    [starts, ends, commits] = await Promise.all([
      consumer.startOffsets(),
      consumer.endOffsets(),
      consumer.committedOffsets(),
    ]);
  } finally {
    await consumer.stop();
  }
  const landed = await landedOffsets(lake, topic, streamId, warehouse);
  const dead = await deadLetteredOffsets(lake, topic, streamId);
  const inventory = await warehouse.inventory(streamId, topic, kind);

  const byPartition = (list: { partition: number; offset: number }[]) =>
    new Map(list.map(({ partition, offset }) => [partition, offset]));
  const start = byPartition(starts);
  const committed = byPartition(commits);
  const partitions = ends.map(({ partition, offset: logEnd }) => {
    const logStart = start.get(partition) ?? 0;
    // A commit below the log start (segments deleted before the group read
    // them) counts from the log start: what retention deleted is not here.
    const upTo = Math.max(committed.get(partition) ?? logStart, logStart);
    const events = landed.get(partition) ?? new LandedPartition();
    const all = events.loaded.union(events.unloaded);
    const deadSet = dead.get(partition) ?? new OffsetRanges();
    const rawRows = inventory.raw.get(partition) ?? { runs: [], rows: 0 };
    const raw = new OffsetRanges(rawRows.runs);
    const rejected = new OffsetRanges(
      (inventory.rejected.get(partition) ?? []).map((o) => [o, o] as const),
    );
    const inWarehouse = raw.union(rejected);
    // Offsets the group committed that landed nowhere.
    const unlanded = upTo - logStart -
      all.union(deadSet).countWithin(logStart, upTo - 1);
    // Events of loaded objects that RAW neither holds nor refused.
    const unloaded = events.loaded.minus(inWarehouse).size;
    // Events only in objects not loaded yet; past the committed offset they
    // are pending already (landed, not committed).
    const waiting = events.unloaded.minus(events.loaded).minus(inWarehouse)
      .countWithin(0, upTo - 1);
    return {
      partition,
      logStart,
      logEnd,
      committed: upTo,
      landed: all.size,
      overlap: events.lines - all.size,
      deadLettered: deadSet.size,
      raw: raw.size,
      rejected: rejected.size,
      pending: Math.max(0, logEnd - upTo) + waiting,
      lost: Math.max(0, unlanded) + unloaded,
      duplicated: rawRows.rows - raw.size,
    };
  });
  const sum = (pick: (p: PartitionReconciliation) => number) =>
    partitions.reduce((total, p) => total + pick(p), 0);
  const silver = inventory.silver;
  return {
    streamId,
    topic,
    partitions,
    silver,
    totals: {
      events: sum((p) => p.logEnd - p.logStart),
      landed: sum((p) => p.landed),
      raw: sum((p) => p.raw),
      quarantined: sum((p) => p.deadLettered + p.rejected) +
        (silver?.quarantined ?? 0),
      pending: sum((p) => p.pending),
      lost: sum((p) => p.lost) + (silver?.lost ?? 0),
      duplicated: sum((p) => p.duplicated) + (silver?.duplicated ?? 0),
    },
  };
}

/** What landed of one partition: the offsets in loaded objects and in the others, and the lines. */
class LandedPartition {
  /** Offsets of events in objects the ledger holds. */
  loaded = new OffsetRanges();
  /** Offsets of events in objects not loaded yet. */
  unloaded = new OffsetRanges();
  /** Event lines, more than the offsets where objects overlap. */
  lines = 0;
}

/** Objects read at a time: each is read whole, so memory stays at a few objects. */
const OBJECTS_AT_ONCE = 8;

/**
 * Every event of this log landed under `<topic>/`, by partition, as runs of
 * offsets: objects of other logs (another tag in the name) are not read, and
 * the ledger is asked about keys a thousand at a time, never read whole.
 */
async function landedOffsets(
  lake: Lake,
  topic: string,
  streamId: string,
  warehouse: WarehouseInventory,
): Promise<Map<number, LandedPartition>> {
  const result = new Map<number, LandedPartition>();
  const tag = streamTag(streamId);
  const read = async (objects: LakeObject[]) => {
    const unloaded = await warehouse.unloadedKeys(objects.map((o) => o.key));
    await mapLimit(objects, OBJECTS_AT_ONCE, async (object) => {
      const loaded = !unloaded.has(object.key);
      for (const line of await decodeLines(await lake.get(object.key))) {
        const stream = parseJson(line)?._stream as Coordinates | undefined;
        if (stream?.id !== streamId || stream.topic !== topic) continue;
        if (!Number.isSafeInteger(stream.offset)) continue;
        const partition = result.get(stream.partition) ??
          result.set(stream.partition, new LandedPartition())
            .get(stream.partition)!;
        partition.lines++;
        (loaded ? partition.loaded : partition.unloaded).add(stream.offset);
      }
    });
  };
  let chunk: LakeObject[] = [];
  for await (const object of lake.list(`${topic}/`)) {
    if (!object.key.endsWith(OBJECT_SUFFIX)) continue;
    const name = parseObjectKey(object.key);
    if (name?.layout === "partition" && name.tag !== tag) continue;
    chunk.push(object);
    if (chunk.length === 1_000) {
      await read(chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) await read(chunk);
  return result;
}

/** Every offset of this log dead-lettered by the consumer, by partition. */
async function deadLetteredOffsets(
  lake: Lake,
  topic: string,
  streamId: string,
): Promise<Map<number, OffsetRanges>> {
  const result = new Map<number, OffsetRanges>();
  for await (const object of lake.list(`${DEAD_LETTER_PREFIX}/${topic}/`)) {
    if (!object.key.endsWith(OBJECT_SUFFIX)) continue;
    for (const line of await decodeLines(await lake.get(object.key))) {
      const dead = parseJson(line) as
        | {
          stream?: string;
          topic?: string;
          partition?: number;
          offset?: number;
        }
        | undefined;
      if (
        dead?.stream !== streamId || dead.topic !== topic ||
        typeof dead.partition !== "number" ||
        !Number.isSafeInteger(dead.offset)
      ) continue;
      const ranges = result.get(dead.partition) ??
        result.set(dead.partition, new OffsetRanges()).get(dead.partition)!;
      ranges.add(dead.offset!);
    }
  }
  return result;
}

interface Coordinates {
  id: string;
  topic: string;
  partition: number;
  offset: number;
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(line);
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The reconciliation as a table: one row per partition, then silver and the
 * totals.
 */
export function formatReconciliation(report: Reconciliation): string {
  const header = [
    "partition",
    "log",
    "committed",
    "landed",
    "overlap",
    "dead-letter",
    "raw",
    "rejected",
    "pending",
    "lost",
    "duplicated",
  ];
  const rows = report.partitions.map((p) => [
    String(p.partition),
    `${p.logStart}..${p.logEnd}`,
    String(p.committed),
    String(p.landed),
    String(p.overlap),
    String(p.deadLettered),
    String(p.raw),
    String(p.rejected),
    String(p.pending),
    String(p.lost),
    String(p.duplicated),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))
      .join("  ");
  const { silver, totals } = report;
  return [
    `Reconciliation of ${report.topic} (log ${report.streamId})`,
    line(header),
    ...rows.map(line),
    silver
      ? `silver: ${silver.rows} rows from this log, ${silver.quarantined} quarantined, ${silver.lost} lost, ${silver.duplicated} duplicated`
      : "silver: not built (run dbt build)",
    `total: ${totals.events} events, ${totals.landed} landed, ${totals.raw} in RAW, ${totals.quarantined} quarantined, ${totals.pending} pending, ${totals.lost} lost, ${totals.duplicated} duplicated`,
  ].join("\n");
}
