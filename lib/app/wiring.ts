/**
 * Opens the configured implementation behind each seam: the stream (Kafka or
 * embedded), the lake (S3 or a local directory) and the warehouse (DuckDB or
 * Snowflake), and reads the warehouse's latest quotes, and its status,
 * from the one configured. Nothing else in the pipeline knows which one runs.
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import type { EventKind } from "../contract/kinds.ts";
import type { Lake } from "../lake/lake.ts";
import type { FlushLimits } from "../land/partition_writer.ts";
import { LocalLake } from "../lake/local.ts";
import { S3Lake } from "../lake/s3.ts";
import type { Stream } from "../stream/stream.ts";
import { EmbeddedStream } from "../stream/embedded/stream.ts";
import { parseBrokers } from "../stream/kafka/config.ts";
import {
  KafkaStream,
  type KafkaStreamOptions,
} from "../stream/kafka/stream.ts";
import type { WarehouseInventory } from "../warehouse/inventory.ts";
import type { LatestQuote } from "../warehouse/latest.ts";
import { readLatestQuotes as readDuckDBLatest } from "../warehouse/duckdb/latest.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import { DuckDBWarehouse } from "../warehouse/duckdb/warehouse.ts";
import { goldCopyPath } from "../warehouse/duckdb/gold_copy.ts";
import { DuckDBStatusReader } from "../warehouse/duckdb/status.ts";
import type { WarehouseStatusReader } from "../warehouse/status.ts";

/** Where one kind of event travels: its topic (also its lake prefix) and the landing's consumer group. */
export interface Lane {
  /** The kind. */
  kind: EventKind;
  /** Topic of the stream, and top-level prefix in the lake. */
  topic: string;
  /** Consumer group of the lake consumer. */
  groupId: string;
}

/**
 * The lane of one kind of event: `KAFKA_TOPIC` and `KAFKA_GROUP_ID` for
 * quotes, `KAFKA_TRADES_TOPIC` and `KAFKA_TRADES_GROUP_ID` for trades.
 */
export function laneOf(config: Config, kind: EventKind): Lane {
  return kind === "quotes"
    ? { kind, topic: config.topic, groupId: config.groupId }
    : { kind, topic: config.tradesTopic, groupId: config.tradesGroupId };
}

/** The Snowflake driver's module (it imports `npm:snowflake-sdk`). */
const SNOWFLAKE_DRIVER = "../warehouse/snowflake/driver.ts";
type DriverModule = typeof import("../warehouse/snowflake/driver.ts");

/**
 * The stream of one kind of event (its lane's topic): Kafka when
 * `KAFKA_BROKERS` is set, else the embedded stream under `STREAM_DIR`.
 *
 * @param config Settings.
 * @param kind The kind, whose topic the stream carries.
 * @param kafka Kafka's retries, for a reader that would rather fail soon
 * (`deno task status`) than wait as the pipeline's stages do.
 * @returns The stream; nothing connects until it is used.
 */
export function openStream(
  config: Config,
  kind: EventKind = "quotes",
  kafka: Pick<KafkaStreamOptions, "retry" | "adminRetry"> = {},
): Stream {
  const { topic } = laneOf(config, kind);
  if (config.kafkaBrokers) {
    return new KafkaStream({
      brokers: parseBrokers(config.kafkaBrokers),
      topic,
      partitions: config.partitions,
      replicationFactor: config.replicationFactor,
      clientId: config.clientId,
      ...kafka,
    });
  }
  const hours = (value: number) => Math.round(value * 60 * 60 * 1000);
  return new EmbeddedStream({
    dir: config.streamDir,
    topic,
    partitions: config.partitions,
    retentionMs: hours(config.streamRetentionHours),
    retentionBytes: config.streamRetentionBytes,
    segmentBytes: config.streamSegmentBytes,
    segmentMs: hours(config.streamSegmentHours),
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
      memoryMib: config.duckdbMemoryMib,
    });
  }
  // A specifier Deno cannot follow ahead of time: the Snowflake driver's
  // npm packages are installed on first use, never for the embedded default.
  const { connectSnowflake } = await import(SNOWFLAKE_DRIVER) as DriverModule;
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

/**
 * The configured warehouse as `deno task status` reads it: the DuckDB file
 * opened read-only for each reading (gold from its gold copy), or a
 * Snowflake session kept until closed.
 *
 * @param config Settings.
 * @returns The reader, and how to release it.
 * @throws {Error} When the Snowflake session cannot be opened.
 */
export async function openStatusReader(
  config: Config,
): Promise<{ reader: WarehouseStatusReader; close(): Promise<void> }> {
  if (config.warehouse === "duckdb") {
    return {
      reader: new DuckDBStatusReader({
        path: config.duckdbPath,
        goldCopy: goldCopyPath(config.duckdbPath, config.duckdbGoldCopyPath),
      }),
      close: () => Promise.resolve(),
    };
  }
  const { connectSnowflake } = await import(SNOWFLAKE_DRIVER) as DriverModule;
  const { SnowflakeStatusReader } = await import(
    "../warehouse/snowflake/status.ts"
  );
  const session = await connectSnowflake(config);
  return {
    reader: new SnowflakeStatusReader(session),
    close: () => session.close(),
  };
}

/**
 * The latest quote of each of `symbols` in the configured warehouse's
 * gold_latest_kpi: the DuckDB file opened read-only (nothing when it does not
 * exist), or a Snowflake session opened for the read and closed after.
 *
 * @param config Settings.
 * @param symbols The symbols wanted.
 * @returns The latest quote of each symbol found, by symbol.
 * @throws {Error} When the warehouse cannot be read (a held DuckDB file, a refused login).
 */
export async function readWarehouseLatest(
  config: Config,
  symbols: string[],
): Promise<Map<string, LatestQuote>> {
  if (config.warehouse === "duckdb") {
    return await readDuckDBLatest(config.duckdbPath, symbols);
  }
  const { connectSnowflake } = await import(SNOWFLAKE_DRIVER) as DriverModule;
  const { readLatestQuotes } = await import(
    "../warehouse/snowflake/latest.ts"
  );
  const session = await connectSnowflake(config);
  try {
    return await readLatestQuotes(session, symbols);
  } finally {
    await session.close();
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
