/**
 * Opens the configured implementation behind each seam: the stream (Kafka or
 * embedded), the lake (S3 or a local directory) and the warehouse (DuckDB).
 * Nothing else in the pipeline knows which one runs.
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import type { Lake } from "../lake/lake.ts";
import type { FlushLimits } from "../land/partition_writer.ts";
import { LocalLake } from "../lake/local.ts";
import { S3Lake } from "../lake/s3.ts";
import type { Stream } from "../stream/stream.ts";
import { EmbeddedStream } from "../stream/embedded/stream.ts";
import { parseBrokers } from "../stream/kafka/config.ts";
import { KafkaStream } from "../stream/kafka/stream.ts";
import type { WarehouseInventory } from "../warehouse/inventory.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import { goldCopyPath } from "../warehouse/duckdb/gold_copy.ts";

/** Kafka when `KAFKA_BROKERS` is set, else the embedded stream under `STREAM_DIR`. */
export function openStream(config: Config): Stream {
  if (config.kafkaBrokers) {
    return new KafkaStream({
      brokers: parseBrokers(config.kafkaBrokers),
      topic: config.topic,
      partitions: config.partitions,
      clientId: config.clientId,
    });
  }
  return new EmbeddedStream({
    dir: config.streamDir,
    topic: config.topic,
    partitions: config.partitions,
  });
}

/** The S3 bucket when `S3_BUCKET` is set, else the local directory `LAKE_DIR`. */
export function openLake(config: Config): Lake {
  if (config.s3Bucket) {
    return new S3Lake({
      bucket: config.s3Bucket,
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      accessKeyId: config.s3AccessKeyId,
      secretAccessKey: config.s3SecretAccessKey,
    });
  }
  return new LocalLake(config.lakeDir);
}

/**
 * The configured warehouse (`WAREHOUSE`), opened: the DuckDB file, or a
 * Snowflake session with RAW bootstrapped (its driver is loaded only then).
 */
export async function openWarehouse(
  config: Config,
): Promise<Warehouse & WarehouseInventory> {
  if (config.warehouse === "duckdb") {
    return await DuckDBWarehouse.open(config.duckdbPath, {
      goldCopy: goldCopyPath(config.duckdbPath, config.duckdbGoldCopyPath),
    });
  }
  const { connectSnowflake } = await import("../warehouse/snowflake/driver.ts");
  const { SnowflakeWarehouse } = await import(
    "../warehouse/snowflake/warehouse.ts"
  );
  const session = await connectSnowflake(config);
  try {
    return await SnowflakeWarehouse.open(session, {
      stage: config.snowflakeStage,
      onError: config.snowflakeOnError,
      bucket: config.s3Bucket,
      storageIntegration: config.snowflakeStorageIntegration,
    });
  } catch (error) {
    await session.close();
    throw error;
  }
}

/** The landing's rotation limits (`FLUSH_MAX_*`). */
export function flushLimits(config: Config): FlushLimits {
  return {
    maxEvents: config.flushMaxEvents,
    maxBytes: config.flushMaxBytes,
    maxAgeMs: config.flushMaxAgeMs,
  };
}
