/**
 * What the loader reads from the lake: landed objects, each line checked
 * again with the event contract and its stream coordinates. A line that
 * fails is kept with its reason (a {@linkcode RejectedLine}), never dropped.
 *
 * @module
 */
import { decodeLines, type LakeObject } from "./lake.ts";
import { logger } from "./log.ts";
import {
  type Rejection,
  type ValidateOptions,
  validateQuote,
} from "./quote.ts";

const log = logger("loader");

/** One landed event, ready to load. */
export interface RawRow {
  /** The landed line, verbatim. */
  line: string;
  /** Identity of the log it was read from. */
  streamId: string;
  /** Stream topic. */
  topic: string;
  /** Stream partition. */
  partition: number;
  /** Stream offset. */
  offset: number;
  /** Stream record timestamp, epoch milliseconds. */
  timestamp: number;
}

/** A line of a lake object that the loader refused, kept for inspection. */
export interface RejectedLine {
  /** 1-based line number in the object. */
  lineNumber: number;
  /** The line, verbatim. */
  line: string;
  /** Why it was refused. */
  reason: Rejection;
}

/** One lake object's content, ready to load. */
export interface LoadFile {
  /** Object key. */
  key: string;
  /** Object size in bytes. */
  size: number;
  /** Its valid rows. */
  rows: RawRow[];
  /** Its refused lines. */
  rejected: RejectedLine[];
}

/**
 * Checks the lines of a lake object.
 *
 * @param object The object.
 * @param body Its gzipped NDJSON, as stored.
 * @returns Its checked content.
 */
export async function checkObject(
  object: LakeObject,
  body: Uint8Array,
): Promise<LoadFile> {
  const lines = await decodeLines(body);
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
 * @param options The clock the contract's skew rules use.
 * @returns The row to load, or why not.
 */
export function parseLandedLine(
  line: string,
  options: ValidateOptions = {},
): RawRow | { reason: Rejection } {
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
  const result = validateQuote(parsed, options);
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
