/**
 * The DuckDB load's TypeScript line check, for the objects the SQL check
 * (./line_rules.ts) did not pass whole: each line checked with the
 * landed-line contract (lib/contract/landed_line.ts). A line that fails is
 * kept with its reason (a {@linkcode RejectedLine}), never dropped.
 * (Snowflake checks the same rules in SQL as it copies.)
 *
 * @module
 */
import { CONTRACTS, type EventKind } from "../../contract/kinds.ts";
import { parseLandedLine, type RawRow } from "../../contract/landed_line.ts";
import type { Rejection, ValidateOptions } from "../../contract/rules.ts";
import type { LakeObject } from "../../lake/lake.ts";
import { decodeLines } from "../../lake/ndjson.ts";
import { logger } from "../../runtime/log.ts";

const log = logger("loader");

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
 * @param options The clock the contract's skew rules use.
 * @param kind The kind of event the object holds.
 * @returns Its checked content.
 */
export async function checkObject(
  object: LakeObject,
  body: Uint8Array,
  options: ValidateOptions = {},
  kind: EventKind = "quotes",
): Promise<LoadFile> {
  const lines = await decodeLines(body);
  const rows: RawRow[] = [];
  const rejected: RejectedLine[] = [];
  lines.forEach((line, index) => {
    const result = parseLandedLine(line, options, CONTRACTS[kind]);
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
