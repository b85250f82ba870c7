/**
 * The verdict on DuckDB's own read of a load's objects: which objects it
 * staged whole and right, so that the TypeScript check
 * (./line_check.ts) need not read them again.
 *
 * @module
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { parseObjectKey } from "../../lake/keys.ts";
import type { LakeObject } from "../../lake/lake.ts";
import { FILE_STATS } from "./sql.ts";

/**
 * The objects DuckDB read whose lines all passed the SQL check, whose lines
 * and newlines make up every byte the gzip stream holds (so DuckDB dropped
 * nothing, not even a carriage return), and whose lines agree with the
 * object's name (topic, partition, first and last offset), with their line
 * counts.
 *
 * @param connection The load's connection, its staging tables filled.
 * @param objects The load's objects, in `staging_paths`' order.
 * @param sizes Each object's uncompressed size, from its gzip trailer.
 * @returns The clean objects' indexes, each with its line count.
 */
export async function cleanObjects(
  connection: DuckDBConnection,
  objects: LakeObject[],
  sizes: (number | undefined)[],
): Promise<Map<number, number>> {
  const clean = new Map<number, number>();
  const reader = await connection.runAndReadAll(FILE_STATS);
  for (const [index, lines, failed, bytes, ...ranges] of reader.getRows()) {
    const name = parseObjectKey(objects[Number(index)].key);
    const [minPartition, maxPartition, minTopic, maxTopic, first, last] =
      ranges;
    const size = sizes[Number(index)];
    if (
      name !== null && Number(failed) === 0 && size !== undefined &&
      Number(BigInt.asUintN(32, BigInt(bytes as bigint))) === size &&
      Number(minPartition) === name.partition &&
      Number(maxPartition) === name.partition &&
      minTopic === name.topic && maxTopic === name.topic &&
      Number(first) === name.firstOffset && Number(last) === name.lastOffset
    ) {
      clean.set(Number(index), Number(lines));
    }
  }
  return clean;
}
