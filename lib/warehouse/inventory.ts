/**
 * What reconciliation reads of a warehouse: the load ledger, RAW's offsets as
 * runs, the loader's rejects, and silver's side as the dbt model
 * `silver_reconciliation` defines it (once, for every warehouse).
 *
 * Each warehouse implements this beside the `Warehouse` seam it loads
 * through (./warehouse.ts); `deno task reconcile` (lib/ops/reconcile.ts) reads only
 * this.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";

/** RAW's rows of one partition: its distinct offsets as runs, and its row count. */
export interface PartitionRows {
  /** Runs of consecutive offsets, both ends included, in order. */
  runs: [number, number][];
  /** Rows: more than the offsets when an offset is there twice. */
  rows: number;
}

/** What the warehouse holds of one log's topic, for reconciliation. */
export interface Inventory {
  /** RAW's offsets by partition, as runs: memory per gap, not per row. */
  raw: Map<number, PartitionRows>;
  /** Offsets the loader refused, by partition, as far as the refused line names them. */
  rejected: Map<number, number[]>;
  /** Silver's side, or null when dbt has not built it. */
  silver: SilverInventory | null;
}

/** Silver's side of one log: a row of the dbt model `silver_reconciliation`. */
export interface SilverInventory {
  /** Silver rows whose winning event came from this log. */
  rows: number;
  /** This log's RAW rows that silver quarantined. */
  quarantined: number;
  /** This log's RAW rows whose quote is neither in silver nor quarantined. */
  lost: number;
  /** Silver rows beyond one per (symbol, quote time) of quotes, or per stream coordinate of trades, all logs. */
  duplicated: number;
}

/** A warehouse as reconciliation reads it. */
export interface WarehouseInventory {
  /** Of the given keys, those the load ledger does not hold. */
  unloadedKeys(keys: string[]): Promise<Set<string>>;
  /** What RAW (the kind's table) and silver hold of one log's topic. */
  inventory(
    streamId: string,
    topic: string,
    kind?: EventKind,
  ): Promise<Inventory>;
}

/** The schema and name of the dbt model both warehouses read silver's side from. */
export const SILVER_RECONCILIATION = {
  schema: "silver",
  name: "silver_reconciliation",
};

/**
 * Groups (partition, offset) rows, as a warehouse reads them, by partition.
 *
 * @param rows Rows of two numeric columns (any numeric type the driver returns).
 * @returns The offsets of each partition, in row order.
 */
export function offsetsByPartition(
  rows: Iterable<readonly [unknown, unknown]>,
): Map<number, number[]> {
  const result = new Map<number, number[]>();
  for (const [partition, offset] of rows) {
    const key = Number(partition);
    const list = result.get(key) ?? result.set(key, []).get(key)!;
    list.push(Number(offset));
  }
  return result;
}

/**
 * Groups RAW's runs, as a warehouse reads them (partition, first offset,
 * last offset, rows), by partition.
 *
 * @param rows Rows of four numeric columns (any numeric type the driver
 * returns), in order of partition and first offset.
 * @returns Each partition's runs and row count.
 */
export function runsByPartition(
  rows: Iterable<readonly [unknown, unknown, unknown, unknown]>,
): Map<number, PartitionRows> {
  const result = new Map<number, PartitionRows>();
  for (const [partition, first, last, count] of rows) {
    const key = Number(partition);
    const entry = result.get(key) ??
      result.set(key, { runs: [], rows: 0 }).get(key)!;
    entry.runs.push([Number(first), Number(last)]);
    entry.rows += Number(count);
  }
  return result;
}
