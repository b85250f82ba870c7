/**
 * Key → partition: the one function both streams use to place a keyed
 * message, so the embedded stream and Kafka agree on where a symbol lives.
 *
 * It calls kafkajs's `Partitioners.DefaultPartitioner`, which is Kafka's Java
 * default partitioner for keyed records: `toPositive(murmur2(utf8(key))) % n`.
 *
 * @module
 */
import { Partitioners, type PartitionMetadata } from "kafkajs";

// Only the keyed branch is used, which is stateless; the partitioner's
// round-robin counter (for keyless messages) is never touched.
const partitioner = Partitioners.DefaultPartitioner();

// Metadata of `n` partitions, each with a leader, as the partitioner expects.
const metadataCache = new Map<number, PartitionMetadata[]>();

function metadataFor(partitions: number): PartitionMetadata[] {
  let metadata = metadataCache.get(partitions);
  if (metadata === undefined) {
    metadata = Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    if (metadataCache.size < 64) metadataCache.set(partitions, metadata);
  }
  return metadata;
}

/**
 * The partition a keyed message goes to, exactly as Kafka's Java clients and
 * kafkajs's default partitioner place it.
 *
 * @param key The message key (a quote's symbol), hashed as UTF-8.
 * @param partitions How many partitions the topic has.
 * @returns The partition, in `[0, partitions)`.
 * @throws {RangeError} When `partitions` is not a positive integer.
 *
 * @example Placing a symbol
 * ```ts
 * import { partitionFor } from "./partitioner.ts";
 * const partition = partitionFor("AAPL", 3);
 * console.assert(partition >= 0 && partition < 3);
 * ```
 */
export function partitionFor(key: string, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions <= 0) {
    throw new RangeError(
      `Cannot choose a partition as 'partitions' must be a positive integer: current value is ${partitions}`,
    );
  }
  return partitioner({
    topic: "",
    partitionMetadata: metadataFor(partitions),
    message: { key, value: null },
  });
}
