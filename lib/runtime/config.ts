/**
 * Configuration from environment variables, each declared once with its
 * default, its validator and why it exists. `.env.example` documents the same
 * list, and a test keeps the two in step.
 *
 * @module
 */
import { registerSecret } from "./log.ts";
import { SYMBOL_PATTERN } from "../contract/quote.ts";

/** One setting: its variable, default, parser and doc. */
export interface Setting<T> {
  /** Environment variable. */
  key: string;
  /** Default when unset or empty; `undefined` means "not set". */
  fallback: string | undefined;
  /** What it is for. */
  doc: string;
  /** Whether the value is a secret (masked in every log line). */
  secret?: boolean;
  /** Turns the text into a value, or throws a `RangeError`. */
  parse(text: string, key: string): T;
}

const text = (text: string) => text;

/** Plain decimal numbers only: `Number()` would also take `0x10`, `1e3` and `0b1`. */
const DECIMAL_INTEGER = /^\d+$/;
const DECIMAL_NUMBER = /^\d+(\.\d+)?$/;

function positiveInt(text: string, key: string): number {
  const value = Number(text);
  if (
    !DECIMAL_INTEGER.test(text) || !Number.isSafeInteger(value) || value <= 0
  ) {
    throw new RangeError(
      `Cannot read configuration as '${key}' must be a positive decimal integer: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}

function positiveNumber(text: string, key: string): number {
  const value = Number(text);
  if (!DECIMAL_NUMBER.test(text) || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot read configuration as '${key}' must be a positive decimal number: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}

function port(text: string, key: string): number {
  const value = Number(text);
  if (!DECIMAL_INTEGER.test(text) || value < 1 || value > 65535) {
    throw new RangeError(
      `Cannot read configuration as '${key}' must be a port number from 1 to 65535: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}

function symbols(text: string, key: string): string[] {
  const list = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const bad = list.find((s) => !SYMBOL_PATTERN.test(s));
  if (list.length === 0 || bad !== undefined) {
    throw new RangeError(
      `Cannot read configuration as '${key}' must be a comma-separated list of symbols matching ${SYMBOL_PATTERN.source}: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  const repeated = list.find((s, i) => list.indexOf(s) !== i);
  if (repeated !== undefined) {
    throw new RangeError(
      `Cannot read configuration as '${key}' must name each symbol once: ${repeated} is repeated in ${
        JSON.stringify(text)
      }`,
    );
  }
  return list;
}

function oneOf<T extends string>(...choices: T[]) {
  return (text: string, key: string): T => {
    if (!(choices as string[]).includes(text)) {
      throw new RangeError(
        `Cannot read configuration as '${key}' must be one of ${
          choices.join(", ")
        }: current value is ${JSON.stringify(text)}`,
      );
    }
    return text as T;
  };
}

/** Every setting of the pipeline. */
export const SETTINGS = {
  symbols: {
    key: "SYMBOLS",
    fallback: "AAPL,MSFT,TSLA,GOOGL,AMZN",
    doc: "Symbols the simulated and Finnhub sources quote.",
    parse: symbols,
  },
  topic: {
    key: "KAFKA_TOPIC",
    fallback: "stock-quotes",
    doc: "Topic the quotes are published to; also the lake's top-level prefix.",
    parse: text,
  },
  tradesTopic: {
    key: "KAFKA_TRADES_TOPIC",
    fallback: "stock-trades",
    doc:
      "Topic the trades are published to; also the lake's top-level prefix of trades.",
    parse: text,
  },
  kafkaBrokers: {
    key: "KAFKA_BROKERS",
    fallback: undefined,
    doc:
      "Comma-separated Kafka brokers; unset uses the embedded stream under STREAM_DIR.",
    parse: text,
  },
  partitions: {
    key: "KAFKA_PARTITIONS",
    fallback: "3",
    doc: "Partitions of the topic when it is created (Kafka and embedded).",
    parse: positiveInt,
  },
  replicationFactor: {
    key: "KAFKA_REPLICATION_FACTOR",
    fallback: "3",
    doc:
      "Replicas of each partition when a topic is created, capped at the cluster's brokers (a log line says so); with 3 or more the topic's min.insync.replicas is 2.",
    parse: positiveInt,
  },
  groupId: {
    key: "KAFKA_GROUP_ID",
    fallback: "stock-quotes-lake",
    doc:
      "Consumer group of the lake consumer; its committed offsets are the landing progress.",
    parse: text,
  },
  tradesGroupId: {
    key: "KAFKA_TRADES_GROUP_ID",
    fallback: "stock-trades-lake",
    doc:
      "Consumer group of the lake consumer of trades; its committed offsets are the trades' landing progress.",
    parse: text,
  },
  clientId: {
    key: "KAFKA_CLIENT_ID",
    fallback: "stocks-pipeline",
    doc: "Kafka client id, shown in broker logs and Kafdrop.",
    parse: text,
  },
  streamDir: {
    key: "STREAM_DIR",
    fallback: "data/stream",
    doc:
      "Directory of the embedded stream's partition logs and committed offsets.",
    parse: text,
  },
  streamRetentionHours: {
    key: "STREAM_RETENTION_HOURS",
    fallback: "168",
    doc:
      "Embedded stream: a closed segment this old is deleted once every consumer group has committed past it (hours).",
    parse: positiveNumber,
  },
  streamRetentionBytes: {
    key: "STREAM_RETENTION_BYTES",
    fallback: "1073741824",
    doc:
      "Embedded stream: a partition's oldest segments are deleted while the rest still hold this many bytes, committed or not.",
    parse: positiveInt,
  },
  streamSegmentBytes: {
    key: "STREAM_SEGMENT_BYTES",
    fallback: "67108864",
    doc:
      "Embedded stream: a partition's active segment file is closed before it would grow past this many bytes.",
    parse: positiveInt,
  },
  streamSegmentHours: {
    key: "STREAM_SEGMENT_HOURS",
    fallback: "24",
    doc:
      "Embedded stream: a partition's active segment file is closed once its first record is this old (hours), so retention can delete it.",
    parse: positiveNumber,
  },
  s3Bucket: {
    key: "S3_BUCKET",
    fallback: undefined,
    doc: "Bucket of the lake; unset uses the local directory LAKE_DIR.",
    parse: text,
  },
  s3Endpoint: {
    key: "S3_ENDPOINT",
    fallback: undefined,
    doc:
      "S3 endpoint URL for MinIO or another S3-compatible server (path-style addressing).",
    parse: text,
  },
  s3Region: {
    key: "S3_REGION",
    fallback: "us-east-1",
    doc: "S3 region.",
    parse: text,
  },
  s3AccessKeyId: {
    key: "AWS_ACCESS_KEY_ID",
    fallback: undefined,
    doc: "S3 access key id; unset uses the AWS SDK's default credential chain.",
    secret: true,
    parse: text,
  },
  s3SecretAccessKey: {
    key: "AWS_SECRET_ACCESS_KEY",
    fallback: undefined,
    doc: "S3 secret access key.",
    secret: true,
    parse: text,
  },
  lakeDir: {
    key: "LAKE_DIR",
    fallback: "data/lake",
    doc:
      "Local lake directory, used when S3_BUCKET is unset; same keys as the bucket.",
    parse: text,
  },
  flushMaxEvents: {
    key: "FLUSH_MAX_EVENTS",
    fallback: "5000",
    doc: "A partition's open batch is landed once it holds this many events.",
    parse: positiveInt,
  },
  flushMaxBytes: {
    key: "FLUSH_MAX_BYTES",
    fallback: "4194304",
    doc:
      "A partition's open batch is landed once it holds this many bytes of messages (keys and values).",
    parse: positiveInt,
  },
  flushMaxAgeMs: {
    key: "FLUSH_MAX_AGE_MS",
    fallback: "2000",
    doc:
      "A partition's open batch is landed once its oldest event has waited this long (milliseconds).",
    parse: positiveInt,
  },
  loadMaxFiles: {
    key: "LOAD_MAX_FILES",
    fallback: "2000",
    doc:
      "Lake objects per load transaction: fewer make smaller, more frequent commits.",
    parse: positiveInt,
  },
  loadMaxEvents: {
    key: "LOAD_MAX_EVENTS",
    fallback: "500000",
    doc:
      "Events per load transaction at most, counted from the offset ranges in object names; it bounds a load's memory, and a transaction under 122880 events (a DuckDB row group) is written twice, to DuckDB's log and at its checkpoint.",
    parse: positiveInt,
  },
  warehouse: {
    key: "WAREHOUSE",
    fallback: "duckdb",
    doc: "Warehouse the loader writes to: duckdb (embedded) or snowflake.",
    parse: oneOf("duckdb", "snowflake"),
  },
  duckdbPath: {
    key: "DUCKDB_PATH",
    fallback: "data/warehouse.duckdb",
    doc: "DuckDB database file of the embedded warehouse.",
    parse: text,
  },
  duckdbMemoryMib: {
    key: "DUCKDB_MEMORY_MIB",
    fallback: "128",
    doc:
      "Memory DuckDB may use in the loader's process (MiB); past it DuckDB spills to temporary files, so a load of any size stays within about this plus 330 MiB.",
    parse: positiveInt,
  },
  duckdbGoldCopyPath: {
    key: "DUCKDB_GOLD_COPY_PATH",
    fallback: undefined,
    doc:
      "Read-only copy of the gold schema, republished after each dbt build, for readers who must not lock the warehouse; unset: gold_copy.duckdb beside DUCKDB_PATH.",
    parse: text,
  },
  duckdbGoldCopyEveryMs: {
    key: "DUCKDB_GOLD_COPY_EVERY_MS",
    fallback: "2000",
    doc:
      "demo --continuous republishes the gold copy at most this often (milliseconds), and less often when gold takes long to copy.",
    parse: positiveInt,
  },
  snowflakeAccount: {
    key: "SNOWFLAKE_ACCOUNT",
    fallback: undefined,
    doc:
      "Snowflake account identifier (e.g. myorg-myaccount), needed by WAREHOUSE=snowflake.",
    parse: text,
  },
  snowflakeUser: {
    key: "SNOWFLAKE_USER",
    fallback: undefined,
    doc: "Snowflake user of the loader.",
    parse: text,
  },
  snowflakePassword: {
    key: "SNOWFLAKE_PASSWORD",
    fallback: undefined,
    doc: "Snowflake password; unset when SNOWFLAKE_PRIVATE_KEY_PATH is set.",
    secret: true,
    parse: text,
  },
  snowflakePrivateKeyPath: {
    key: "SNOWFLAKE_PRIVATE_KEY_PATH",
    fallback: undefined,
    doc: "Key-pair authentication: the user's private key, a PKCS#8 PEM file.",
    parse: text,
  },
  snowflakePrivateKeyPassphrase: {
    key: "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
    fallback: undefined,
    doc: "Passphrase of an encrypted private key.",
    secret: true,
    parse: text,
  },
  snowflakeLoaderRole: {
    key: "SNOWFLAKE_LOADER_ROLE",
    fallback: "LOADER",
    doc:
      "Role of the loader: owns schema RAW (dbt's role is SNOWFLAKE_ROLE, default TRANSFORMER).",
    parse: text,
  },
  snowflakeRole: {
    key: "SNOWFLAKE_ROLE",
    fallback: "TRANSFORMER",
    doc:
      "Role of dbt's snowflake target (dbt_stocks/profiles.yml): owns bronze, silver and gold.",
    parse: text,
  },
  snowflakeWarehouse: {
    key: "SNOWFLAKE_WAREHOUSE",
    fallback: "COMPUTE_WH",
    doc: "Snowflake virtual warehouse that runs the loads (and dbt).",
    parse: text,
  },
  snowflakeDatabase: {
    key: "SNOWFLAKE_DATABASE",
    fallback: "STOCKS",
    doc: "Snowflake database holding RAW (and dbt's schemas).",
    parse: text,
  },
  snowflakeStage: {
    key: "SNOWFLAKE_STAGE",
    fallback: "internal",
    doc:
      "How COPY reads lake objects: internal (PUT to an internal stage; any S3 or MinIO) or external (a stage on the bucket).",
    parse: oneOf("internal", "external"),
  },
  snowflakeStorageIntegration: {
    key: "SNOWFLAKE_STORAGE_INTEGRATION",
    fallback: undefined,
    doc:
      "Storage integration of the external stage on s3://S3_BUCKET/, needed by SNOWFLAKE_STAGE=external.",
    parse: text,
  },
  snowflakeOnError: {
    key: "SNOWFLAKE_ON_ERROR",
    fallback: "CONTINUE",
    doc:
      "COPY's ON_ERROR: CONTINUE (skip a bad line, count it), SKIP_FILE or ABORT_STATEMENT.",
    parse: oneOf("CONTINUE", "SKIP_FILE", "ABORT_STATEMENT"),
  },
  snowflakeAccessUrl: {
    key: "SNOWFLAKE_ACCESS_URL",
    fallback: undefined,
    doc:
      "Snowflake endpoint URL, when not https://<account>.snowflakecomputing.com (private link, tests).",
    parse: text,
  },
  finnhubApiKey: {
    key: "FINNHUB_API_KEY",
    fallback: undefined,
    doc:
      "Finnhub API key, needed by --source finnhub and finnhub-trades: a header of each REST call, the token query parameter of the trades WebSocket (whose URL is never logged).",
    secret: true,
    parse: text,
  },
  finnhubBaseUrl: {
    key: "FINNHUB_BASE_URL",
    fallback: "https://finnhub.io/api/v1",
    doc: "Finnhub API base URL; tests point it at a local fake.",
    parse: text,
  },
  finnhubWsUrl: {
    key: "FINNHUB_WS_URL",
    fallback: "wss://ws.finnhub.io",
    doc: "Finnhub trades WebSocket URL; tests point it at a local fake.",
    parse: text,
  },
  finnhubWsIdleMs: {
    key: "FINNHUB_WS_IDLE_MS",
    fallback: "180000",
    doc:
      "The trades WebSocket reconnects when nothing, not even a ping, arrives for this long (milliseconds; Finnhub pings about every minute).",
    parse: positiveInt,
  },
  finnhubCallsPerMinute: {
    key: "FINNHUB_CALLS_PER_MINUTE",
    fallback: "60",
    doc:
      "Call budget of the Finnhub source (Finnhub's free plan allows 60 per minute).",
    parse: positiveInt,
  },
  finnhubTimeoutMs: {
    key: "FINNHUB_TIMEOUT_MS",
    fallback: "10000",
    doc: "Timeout of one Finnhub request (milliseconds).",
    parse: positiveInt,
  },
  simRate: {
    key: "SIM_RATE",
    fallback: undefined,
    doc:
      "Events per second of the simulated source; unset: one quote per symbol per second, which keeps market time with the clock.",
    parse: positiveNumber,
  },
  simSeed: {
    key: "SIM_SEED",
    fallback: "42",
    doc:
      "Seed of the simulated source's random walk; each run continues every symbol from its last quote in the stream or warehouse.",
    parse: positiveInt,
  },
  dbtTarget: {
    key: "DBT_TARGET",
    fallback: "duckdb",
    doc: "dbt target of `deno task transform` (profiles.yml in dbt_stocks).",
    parse: text,
  },
  followCycleMs: {
    key: "FOLLOW_CYCLE_MS",
    fallback: "1000",
    doc:
      "deno task follow starts a load at most this often (milliseconds): each load lists the lake.",
    parse: positiveInt,
  },
  followTransformEveryMs: {
    key: "FOLLOW_TRANSFORM_EVERY_MS",
    fallback: "1500",
    doc:
      "deno task follow leaves at least this long between the end of a dbt run and the next (milliseconds), so loads get the DuckDB file in between.",
    parse: positiveInt,
  },
  followStatusPath: {
    key: "FOLLOW_STATUS_PATH",
    fallback: "data/follow_status.json",
    doc:
      "Status file deno task follow rewrites as it goes; `deno task follow --status` (the compose healthcheck) reads it.",
    parse: text,
  },
  followStallMs: {
    key: "FOLLOW_STALL_MS",
    fallback: "300000",
    doc:
      "`deno task follow --status` fails when the status file is older than this (milliseconds): longer than one load transaction or dbt run should take.",
    parse: positiveInt,
  },
  statusMaxLagMessages: {
    key: "STATUS_MAX_LAG_MESSAGES",
    fallback: "10000",
    doc:
      "deno task status exits 1 when a kind has more messages than this in its stream and not yet in RAW (end offset minus loaded, summed over partitions).",
    parse: positiveInt,
  },
  statusMaxFreshnessSeconds: {
    key: "STATUS_MAX_FRESHNESS_SECONDS",
    fallback: "300",
    doc:
      "deno task status exits 1 when a kind's newest load into RAW, or its newest silver or gold transform, is older than this (seconds).",
    parse: positiveInt,
  },
  metricsPort: {
    key: "METRICS_PORT",
    fallback: undefined,
    doc:
      "Port where the long-running tasks (produce, consume, follow, demo) serve Prometheus metrics at /metrics; unset: no endpoint.",
    parse: port,
  },
  metricsHost: {
    key: "METRICS_HOST",
    fallback: "127.0.0.1",
    doc:
      "Address the metrics endpoint listens on: loopback by default; 0.0.0.0 lets a Prometheus in another container or host scrape it.",
    parse: text,
  },
  dashboardPort: {
    key: "DASHBOARD_PORT",
    fallback: "8090",
    doc:
      "Port of `deno task dashboard`, the web page of gold and the pipeline.",
    parse: port,
  },
  dashboardHost: {
    key: "DASHBOARD_HOST",
    fallback: "127.0.0.1",
    doc:
      "Address `deno task dashboard` listens on: loopback by default, 0.0.0.0 in a container whose port is published.",
    parse: text,
  },
  logLevel: {
    key: "LOG_LEVEL",
    fallback: "info",
    doc: "Log threshold: debug, info, warn or error.",
    parse: oneOf("debug", "info", "warn", "error"),
  },
  logFormat: {
    key: "LOG_FORMAT",
    fallback: "logfmt",
    doc: "Log line format: logfmt or json.",
    parse: oneOf("logfmt", "json"),
  },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;

/** The parsed configuration: one field per setting, `undefined` when unset and without default. */
export type Config = {
  [K in keyof Settings]: Settings[K]["fallback"] extends string
    ? ReturnType<Settings[K]["parse"]>
    : ReturnType<Settings[K]["parse"]> | undefined;
};

/**
 * Reads the configuration from environment variables.
 *
 * @param env Variables to read; defaults to the process environment.
 * @returns The configuration. Secrets are registered with the logger so they never appear in a log line.
 * @throws {RangeError} When a variable has an invalid value.
 */
export function loadConfig(
  env: Record<string, string> = Deno.env.toObject(),
): Config {
  const config: Record<string, unknown> = {};
  for (
    const [name, setting] of Object.entries(SETTINGS) as [
      string,
      Setting<unknown>,
    ][]
  ) {
    const raw = env[setting.key]?.trim() || setting.fallback;
    if (setting.secret) registerSecret(raw);
    config[name] = raw === undefined
      ? undefined
      : setting.parse(raw, setting.key);
  }
  return config as Config;
}
