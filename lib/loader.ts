/**
 * The loader: lake objects not yet in the load ledger go into the warehouse,
 * in micro-batches of objects, each batch one transaction.
 *
 * Every line is checked again with the event contract and must carry its
 * stream coordinates; a line that fails is kept in the warehouse's reject
 * table with its reason, never dropped silently.
 *
 * @module
 */
import { decodeLines, type Lake, type LakeObject } from "./lake.ts";
import { logger } from "./log.ts";
import { type Rejection, validateQuote } from "./quote.ts";
import type {
  LoadFile,
  LoadResult,
  RawRow,
  RejectedLine,
  Warehouse,
} from "./warehouse.ts";

/** Options for {@linkcode loadNewObjects}. */
export interface LoadOptions {
  /** Where the objects are. */
  lake: Lake;
  /** Where they go. */
  warehouse: Warehouse;
  /** Topic, the lake prefix of landed events. */
  topic: string;
  /**
   * Objects per transaction.
   *
   * @default {500}
   */
  filesPerLoad?: number;
  /**
   * Most compressed bytes per transaction, so a load's memory stays bounded
   * however large the objects are.
   *
   * @default {33554432}
   */
  bytesPerLoad?: number;
  /**
   * Objects downloaded at once.
   *
   * @default {8}
   */
  concurrency?: number;
  /** Stops between transactions. */
  signal?: AbortSignal;
  /** Called after each transaction with the totals so far. */
  onProgress?: (totals: LoadTotals) => void;
}

/** Totals of a load run. */
export interface LoadTotals extends LoadResult {
  /** Objects found under the prefix, loaded before or not. */
  listed: number;
}

const log = logger("loader");

/**
 * Loads every object under `<topic>/` that the ledger does not hold yet.
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
    filesPerLoad = 500,
    bytesPerLoad = 32 * 1024 * 1024,
    concurrency = 8,
    signal,
    onProgress,
  } = options;
  const loaded = await warehouse.loadedKeys();
  const totals: LoadTotals = {
    listed: 0,
    files: 0,
    rows: 0,
    inserted: 0,
    duplicates: 0,
    rejected: 0,
  };
  let pending: LakeObject[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    const files = await mapLimit(
      pending,
      concurrency,
      (object) => readObject(lake, object),
    );
    pending = [];
    pendingBytes = 0;
    const result = await warehouse.load(files);
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
  for await (const object of lake.list(`${topic}/`)) {
    totals.listed++;
    if (!object.key.endsWith(".ndjson.gz") || loaded.has(object.key)) continue;
    pending.push(object);
    pendingBytes += object.size;
    if (pending.length >= filesPerLoad || pendingBytes >= bytesPerLoad) {
      await flush();
      if (signal?.aborted) return totals;
    }
  }
  if (pending.length > 0) await flush();
  log.info("load finished", { ...totals, warehouse: warehouse.location });
  return totals;
}

/** Reads and checks one object's lines. */
export async function readObject(
  lake: Lake,
  object: LakeObject,
): Promise<LoadFile> {
  const lines = await decodeLines(await lake.get(object.key));
  const rows: RawRow[] = [];
  const rejected: RejectedLine[] = [];
  lines.forEach((line, index) => {
    const result = parseLandedLine(line);
    if ("reason" in result) {
      rejected.push({ lineNumber: index + 1, line, reason: result.reason });
      log.warn("refused a landed line", {
        key: object.key,
        line: index + 1,
        field: result.reason.field,
        rule: result.reason.rule,
      });
    } else {
      rows.push(result);
    }
  });
  return { key: object.key, size: object.size, rows, rejected };
}

/**
 * Checks one landed line: the event contract plus its `_stream` coordinates.
 *
 * @param line The line's text.
 * @returns The row to load, or why not.
 */
export function parseLandedLine(line: string): RawRow | { reason: Rejection } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return {
      reason: {
        field: "event",
        value: line.slice(0, 80),
        rule: `must be valid JSON (${(error as Error).message})`,
      },
    };
  }
  const result = validateQuote(parsed);
  if (!result.ok) return { reason: result.rejection };
  const stream = (parsed as { _stream?: Record<string, unknown> })._stream;
  const { id, topic, partition, offset, timestamp } = stream ?? {};
  if (
    typeof id !== "string" || id === "" ||
    typeof topic !== "string" || topic === "" ||
    !isCount(partition) || !isCount(offset) || !isCount(timestamp)
  ) {
    return {
      reason: {
        field: "_stream",
        value: JSON.stringify(stream ?? null).slice(0, 80),
        rule:
          "must hold the stream coordinates {id, topic, partition, offset, timestamp}",
      },
    };
  }
  return { line, streamId: id, topic, partition, offset, timestamp } as RawRow;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return results;
}
