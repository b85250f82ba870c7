/**
 * The loader: lake objects not yet in the load ledger go into the warehouse,
 * in micro-batches of objects, each batch one transaction. A backfill narrows
 * the objects to a prefix or a date range and may read loaded objects again
 * ({@linkcode LoadSelection}); rows are still inserted once per stream
 * coordinates.
 *
 * A load finds the objects it has not seen from high-water marks
 * (./discovery.ts), so its listing follows what landed since the last load;
 * a backfill lists its prefix (or the topic's) whole. Either way the keys
 * found are compared with the load ledger in the warehouse, a thousand at a
 * time.
 *
 * The warehouse reads the objects itself (DuckDB checks each line again in
 * SQL, lib/warehouse/duckdb/line_rules.ts; Snowflake: COPY from a stage), so
 * the loader only lists, selects and batches them.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import { OBJECT_SUFFIX, parseObjectKey } from "../lake/keys.ts";
import {
  DEFAULT_LOOKBACK_DAYS,
  MarkTracker,
  unseenObjects,
} from "./discovery.ts";
import type { Lake, LakeObject } from "../lake/lake.ts";
import type { LoadResult, Warehouse } from "../warehouse/warehouse.ts";

/** Options for {@linkcode loadNewObjects}. */
export interface LoadOptions {
  /** Where the objects are. */
  lake: Lake;
  /** Where they go. */
  warehouse: Warehouse;
  /** Topic, the lake prefix of landed events. */
  topic: string;
  /**
   * The kind of event the topic carries.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
  /** Which objects to load; every object not loaded yet by default. */
  selection?: LoadSelection;
  /**
   * Objects per transaction.
   *
   * @default {2000}
   */
  filesPerLoad?: number;
  /**
   * Most events per transaction, counted from the offset ranges in the
   * objects' names (an upper bound: a name's range may hold gaps), so a
   * load's memory stays bounded however many events it finds. A batch of at
   * least one DuckDB row group (122,880 rows) is written straight to the
   * database file; a smaller one goes through DuckDB's write-ahead log and
   * is written again at the next checkpoint.
   *
   * @default {500000}
   */
  eventsPerLoad?: number;
  /**
   * Most compressed bytes per transaction, so a load's memory stays bounded
   * however large the objects are.
   *
   * @default {33554432}
   */
  bytesPerLoad?: number;
  /**
   * Days before the newest marked landing day whose folders each load lists
   * again (./discovery.ts).
   *
   * @default {2}
   */
  lookbackDays?: number;
  /** Stops between transactions. */
  signal?: AbortSignal;
  /** Called after each transaction with the totals so far. */
  onProgress?: (totals: LoadTotals) => void;
}

/** Which lake objects a load reads: a backfill's narrowing. */
export interface LoadSelection {
  /** List only under this key prefix, which must lie under `<topic>/`. */
  prefix?: string;
  /**
   * First day (`YYYY-MM-DD`, UTC) of the objects to load, inclusive: the
   * landing day (`dt=`) of objects in today's layout, the events' day
   * (`date=`) of objects in the layout before it.
   */
  from?: string;
  /** Last day of the objects to load, inclusive, read as `from` is. */
  to?: string;
  /**
   * Read objects the ledger already holds too: rows whose coordinates are
   * loaded are skipped, so a replay restores what is missing and nothing else.
   */
  reload?: boolean;
}

/** Totals of a load run. */
export interface LoadTotals extends LoadResult {
  /**
   * Objects listed, loaded before or not: those after discovery's marks
   * (the last few loaded keys of each folder included), or every object
   * under a backfill's prefix.
   */
  listed: number;
}

/** Totals of a load that has loaded nothing yet. */
export function emptyLoadTotals(): LoadTotals {
  return {
    listed: 0,
    files: 0,
    rows: 0,
    inserted: 0,
    duplicates: 0,
    rejected: 0,
  };
}

/**
 * Loads every object under `<topic>/` that the ledger does not hold yet, or
 * the objects a selection names.
 *
 * @param options Lake, warehouse and batching.
 * @returns What was loaded.
 */
export async function loadNewObjects(
  options: LoadOptions,
): Promise<LoadTotals> {
  const {
    lake,
    warehouse,
    topic,
    kind = "quotes",
    filesPerLoad = 2_000,
    eventsPerLoad = 500_000,
    bytesPerLoad = 32 * 1024 * 1024,
    selection = {},
    lookbackDays = DEFAULT_LOOKBACK_DAYS,
    signal,
    onProgress,
  } = options;
  checkSelection(selection, topic);
  const { prefix, from, to, reload = false } = selection;
  const backfill = prefix !== undefined || from !== undefined ||
    to !== undefined || reload;
  const state = backfill
    ? undefined
    : await warehouse.discoveryState(topic, lookbackDays);
  const marks = new MarkTracker();
  const totals = emptyLoadTotals();
  let pending: LakeObject[] = [];
  let pendingBytes = 0;
  let pendingEvents = 0;
  const flush = async () => {
    const objects = pending;
    pending = [];
    pendingBytes = 0;
    pendingEvents = 0;
    const result = await warehouse.load({ kind, lake, objects, reload });
    for (
      const name of [
        "files",
        "rows",
        "inserted",
        "duplicates",
        "rejected",
      ] as const
    ) {
      totals[name] += result[name];
    }
    onProgress?.(totals);
  };
  // Every key handled so far is loaded or in the ledger once the pending
  // objects are: only then may the marks move past them.
  const saveMarks = async (swept: boolean) => {
    if (pending.length > 0) await flush();
    if (state !== undefined) {
      await warehouse.saveMarks(topic, marks.marks(), swept);
    }
  };
  const handle = async (candidates: LakeObject[]) => {
    const unloaded = reload
      ? undefined
      : await warehouse.unloadedKeys(candidates.map((object) => object.key));
    for (const object of candidates) {
      marks.handled(object.key);
      if (unloaded !== undefined && !unloaded.has(object.key)) continue;
      pending.push(object);
      pendingBytes += object.size;
      pendingEvents += eventsOf(object.key);
      if (
        pending.length >= filesPerLoad || pendingBytes >= bytesPerLoad ||
        pendingEvents >= eventsPerLoad
      ) {
        await saveMarks(false);
        if (signal?.aborted) return false;
      }
    }
    return true;
  };
  const listing = state === undefined
    ? lake.list(prefix ?? `${topic}/`)
    : unseenObjects(lake, topic, state, lookbackDays);
  let candidates: LakeObject[] = [];
  for await (const object of listing) {
    totals.listed++;
    if (
      !object.key.endsWith(OBJECT_SUFFIX) || !inDateRange(object.key, selection)
    ) {
      continue;
    }
    candidates.push(object);
    if (candidates.length >= LEDGER_CHECK_KEYS) {
      if (!await handle(candidates)) return totals;
      candidates = [];
    }
  }
  if (candidates.length > 0 && !await handle(candidates)) return totals;
  await saveMarks(state !== undefined && !state.swept);
  return totals;
}

/**
 * The most events an object holds, from the offset range its name gives; 0
 * when its name bounds none (its bytes still count): an object of the
 * layout before partitions held one symbol's events of its range only.
 */
function eventsOf(key: string): number {
  const name = parseObjectKey(key);
  if (name === null || name.layout !== "partition") return 0;
  return name.lastOffset - name.firstOffset + 1;
}

/** Keys compared with the ledger in one query. */
const LEDGER_CHECK_KEYS = 1_000;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Checks a selection before anything is read.
 *
 * @param selection The selection.
 * @param topic The topic whose objects may be loaded.
 * @throws {RangeError} On a prefix outside the topic, or a date that is not a
 * real `YYYY-MM-DD` day, or a range that ends before it starts.
 */
export function checkSelection(selection: LoadSelection, topic: string): void {
  const { prefix, from, to } = selection;
  if (
    prefix !== undefined &&
    (!prefix.startsWith(`${topic}/`) || prefix.split("/").includes(".."))
  ) {
    throw new RangeError(
      `Cannot load as '--prefix' must lie under the topic's prefix '${topic}/' (e.g. '${topic}/dt=2026-11-20/partition=0/'): current value is ${
        JSON.stringify(prefix)
      }`,
    );
  }
  for (const [name, value] of [["--from", from], ["--to", to]] as const) {
    if (value === undefined) continue;
    const day = new Date(`${value}T00:00:00Z`);
    if (
      !DATE.test(value) || Number.isNaN(day.getTime()) ||
      day.toISOString().slice(0, 10) !== value
    ) {
      throw new RangeError(
        `Cannot load as '${name}' must be a date YYYY-MM-DD: current value is ${
          JSON.stringify(value)
        }`,
      );
    }
  }
  if (from !== undefined && to !== undefined && from > to) {
    throw new RangeError(
      `Cannot load as '--from' must not be after '--to': current values are ${from} and ${to}`,
    );
  }
}

/** Whether an object's day (`dt=`, or `date=` in the layout before) lies in the selection's range. */
function inDateRange(key: string, { from, to }: LoadSelection): boolean {
  if (from === undefined && to === undefined) return true;
  const date = parseObjectKey(key)?.day;
  if (date === undefined) return false;
  return (from === undefined || date >= from) &&
    (to === undefined || date <= to);
}
