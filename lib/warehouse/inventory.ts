/**
 * What reconciliation reads of a warehouse: the load ledger, RAW's stream
 * coordinates, the loader's rejects, and silver's side as the dbt model
 * `silver_reconciliation` defines it (once, for every warehouse).
 *
 * Each warehouse implements this beside the `Warehouse` seam it loads
 * through (./warehouse.ts); `deno task reconcile` (lib/ops/reconcile.ts) reads only
 * this.
 *
 * @module
 */

/** What the warehouse holds of one log's topic, for reconciliation. */
export interface Inventory {
  /** RAW offsets by partition, one entry per row (a repeat is a duplicate). */
  raw: Map<number, number[]>;
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
  /** Silver rows beyond one per (symbol, quote time), all logs. */
  duplicated: number;
}

/** A warehouse as reconciliation reads it. */
export interface WarehouseInventory {
  /** Keys of the objects recorded in the load ledger. */
  loadedKeys(): Promise<Set<string>>;
  /** What RAW and silver hold of one log's topic. */
  inventory(streamId: string, topic: string): Promise<Inventory>;
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
