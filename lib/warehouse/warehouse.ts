/**
 * The warehouse seam: where the loader puts landed events for dbt. Two
 * implementations, chosen by `WAREHOUSE` (lib/app/wiring.ts): DuckDB, which
 * reads the objects itself, and Snowflake, which copies them from a stage.
 *
 * A load is one transaction: the rows of a set of lake objects go into
 * their kind's RAW table (`raw.source_stock_quotes`,
 * `raw.source_stock_trades`), minus any whose stream coordinates (log
 * identity, topic, partition, offset) are already there, and each object is
 * recorded in the load ledger beside them. So a re-run loads nothing twice,
 * and objects that overlap after a consumer crash still count each event
 * once. A row whose coordinates are taken by a different event is refused
 * (a {@linkcode CoordinateClashError}), never dropped as a duplicate.
 *
 * Reconciliation reads each warehouse through an interface of its own,
 * `WarehouseInventory` (./inventory.ts).
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { Lake, LakeObject } from "../lake/lake.ts";
import { FatalError } from "../runtime/retry.ts";

/** One load: lake objects, and where to read them. */
export interface LoadBatch {
  /**
   * The kind of event the objects hold: its contract checks each line, and
   * its RAW table takes the rows.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
  /** The lake holding the objects. */
  lake: Lake;
  /** The objects, at most one transaction's worth. */
  objects: LakeObject[];
  /**
   * Objects the ledger already holds are being read again (a backfill's
   * reload): rows already loaded are skipped, the ledger keeps its entries.
   */
  reload: boolean;
}

/**
 * A high-water mark of discovery (lib/load/discovery.ts): the last key
 * handled of one log (tag) in one partition folder of the lake.
 */
export interface LoadMark {
  /** Landing day (`YYYY-MM-DD`) of the folder. */
  day: string;
  /** Partition of the folder. */
  partition: number;
  /** Stream tag of the log. */
  tag: string;
  /** Every key of this log in the folder up to this one was handled. */
  key: string;
}

/** What discovery reads of the warehouse before a load. */
export interface DiscoveryState {
  /** Whether the topic's whole prefix was listed and handled once. */
  swept: boolean;
  /** Marks of the newest marked day and of the lookback days before it. */
  marks: LoadMark[];
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
  /**
   * Of the given keys, those the load ledger does not hold, compared in the
   * warehouse (never the whole ledger read out).
   */
  unloadedKeys(keys: string[]): Promise<Set<string>>;
  /** Discovery's marks for a topic's recent landing days, and whether its prefix was swept. */
  discoveryState(topic: string, lookbackDays: number): Promise<DiscoveryState>;
  /**
   * Moves marks forward (a mark never moves back) and, with `swept`, records
   * that the topic's whole prefix was listed and handled.
   */
  saveMarks(topic: string, marks: LoadMark[], swept: boolean): Promise<void>;
  /**
   * Loads objects in one transaction, with their ledger entries; an object
   * the ledger already holds (a backfill's reload) keeps its first entry.
   */
  load(batch: LoadBatch): Promise<LoadResult>;
  /** Releases the connection (DuckDB: lets another process open the file). */
  close(): Promise<void>;
}

/**
 * Rows arrived whose stream coordinates are already taken by different events:
 * the log reused offsets under the same identity (e.g. a Kafka topic deleted
 * and created again in the same cluster). The load is rolled back.
 */
export class CoordinateClashError extends FatalError {
  /** Creates the error for `count` clashing rows, one of them in `example`. */
  constructor(count: number, example: string) {
    super(
      `Cannot load as ${count} row(s) reuse the stream coordinates of different events already loaded (first: ${example}); the topic was probably recreated: land it under a new topic name`,
    );
    this.name = "CoordinateClashError";
  }
}
