/**
 * Reading discovery's state (its marks and sweeps, lib/load/discovery.ts)
 * from the DuckDB warehouse, through any connection: the loader's, or the
 * status's read-only one (./status.ts).
 *
 * @module
 */
import type { DiscoveryState } from "../warehouse.ts";
import { MARKS, SWEPT } from "./sql.ts";

/**
 * Discovery's recent marks of `topic`, and whether its prefix was swept,
 * through any connection to the warehouse (the loader's, or the status's
 * read-only one).
 *
 * @param query Runs a statement with its parameters and returns its rows.
 * @param topic The topic.
 * @param lookbackDays Landing days before the newest mark to read.
 * @returns The discovery state.
 */
export async function readDiscoveryState(
  query: (sql: string, params: (string | number)[]) => Promise<unknown[][]>,
  topic: string,
  lookbackDays: number,
): Promise<DiscoveryState> {
  const [[swept]] = await query(SWEPT, [topic]);
  const marks = (await query(MARKS, [topic, lookbackDays])).map((
    [day, partition, tag, key],
  ) => ({
    day: String(day),
    partition: Number(partition),
    tag: String(tag),
    key: String(key),
  }));
  return { swept: Number(swept) > 0, marks };
}
