/**
 * The warehouse seam: where the loader puts landed events for dbt.
 *
 * A load is one transaction: the rows of a set of lake objects go into
 * `raw.source_stock_quotes`, minus any whose stream coordinates are already
 * there, and each object is recorded in the load ledger beside them. So a
 * re-run loads nothing twice, and objects that overlap after a consumer crash
 * still count each event once.
 *
 * @module
 */
import type { Rejection } from "./quote.ts";

/** One landed event, ready to load. */
export interface RawRow {
  /** The landed line, verbatim. */
  line: string;
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

/** What one load did. */
export interface LoadResult {
  /** Objects recorded in the ledger. */
  files: number;
  /** Rows read from them. */
  rows: number;
  /** Rows inserted: new stream coordinates. */
  inserted: number;
  /** Rows skipped because their coordinates were already loaded. */
  duplicates: number;
  /** Lines refused. */
  rejected: number;
}

/** A warehouse the loader can write to. */
export interface Warehouse {
  /** Human-readable location, without credentials. */
  readonly location: string;
  /** Keys of the objects recorded in the load ledger. */
  loadedKeys(): Promise<Set<string>>;
  /** Loads objects in one transaction, with their ledger entries. */
  load(files: LoadFile[]): Promise<LoadResult>;
  /** Releases the connection (DuckDB: lets another process open the file). */
  close(): Promise<void>;
}
