/**
 * The landed-line contract: what each line of a lake object holds, a valid
 * event (a quote or a trade, by its topic's kind) plus its stream
 * coordinates under `_stream`. The consumer
 * writes such lines (lib/land/partition_writer.ts) and the loader checks
 * each one again before it reaches RAW.
 *
 * @module
 */
import { CONTRACTS, type EventContract, type MarketEvent } from "./kinds.ts";
import type { Rejection, ValidateOptions } from "./rules.ts";

/** A line landed in the lake: the event and its stream coordinates. */
export type LandedLine = MarketEvent & {
  /** Where the event sat in the stream. */
  _stream: {
    /** Identity of the log (see `Stream.identity()`). */
    id: string;
    topic: string;
    partition: number;
    offset: number;
    timestamp: number;
  };
};

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

/** The fields of a landed line's `_stream`, in the order they are written. */
export const STREAM_FIELDS = [
  "id",
  "topic",
  "partition",
  "offset",
  "timestamp",
] as const;

/**
 * Writes a valid event and its coordinates as one landed line:
 * `JSON.stringify({ ...event, _stream })`, the event's fields in contract
 * order, without copying the event. The loader's SQL check
 * (lib/warehouse/duckdb/line_rules.ts) accepts exactly this spelling.
 *
 * @param event The event, as its contract's validator returns it.
 * @param stream Its stream coordinates.
 * @returns The line, without a newline.
 */
export function formatLandedLine(
  event: MarketEvent,
  stream: LandedLine["_stream"],
): string {
  return `${JSON.stringify(event).slice(0, -1)},"_stream":${
    JSON.stringify(stream, STREAM_FIELDS as unknown as string[])
  }}`;
}

/**
 * Checks one landed line: the event contract plus its `_stream` coordinates.
 *
 * @param line The line's text.
 * @param options The clock the contract's skew rules use.
 * @param contract The contract of the object's kind of event.
 * @returns The row to load, or why not.
 */
export function parseLandedLine(
  line: string,
  options: ValidateOptions = {},
  contract: EventContract = CONTRACTS.quotes,
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
  const result = contract.validate(parsed, options);
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
