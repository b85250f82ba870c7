/**
 * The native development services, without Docker: Kafka (KRaft) and MinIO on
 * loopback, reused when already running. {@linkcode servicesUp} returns the
 * variables that point the pipeline at them and writes them to
 * `services.env`.
 *
 * One set of services runs per directory: `.services/` with Kafka on 19092
 * and MinIO on 19000 by default; `SERVICES_KAFKA_BROKERS=3` makes Kafka a
 * cluster of three nodes (19092, 19094, 19096). `SERVICES_DIR`, `SERVICES_KAFKA_PORT` and
 * `SERVICES_MINIO_PORT` name another set, so that the fault tests can stop
 * and kill their own services while the other tests use the default ones.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { PROJECT_ROOT } from "../lib/runtime/project.ts";
import { userCache } from "./cache.ts";
import { startKafka, stopKafka } from "./services/kafka.ts";
import { startMinio, stopMinio } from "./services/minio.ts";

/** Runtime files of the default services (pid, logs, data): git-ignored. */
export const SERVICES_DIR = join(PROJECT_ROOT, ".services");

/** The file `services:up` writes the default services' variables to. */
export const SERVICES_ENV = join(PROJECT_ROOT, "services.env");

/** The variables that point the pipeline at the running services. */
export type ServicesEnv = Record<string, string>;

/** Where one set of services lives and listens. */
export interface ServicesSettings {
  /** Their runtime files (pid, logs, data). */
  root: string;
  /** Where their variables are written. */
  envFile: string;
  /** Kafka's broker port; its controller listens on the next one. */
  kafkaPort: number;
  /** Kafka's nodes; node `i` (from 1) listens on `kafkaPort + 2 (i - 1)` and the next port. */
  kafkaNodes: number;
  /** MinIO's S3 port; its console listens on the next one. */
  minioPort: number;
}

/**
 * The set of services the environment names: `SERVICES_DIR` (default
 * `.services/`, whose variables go to `services.env` at the project root;
 * another directory keeps its own `services.env`), `SERVICES_KAFKA_PORT`
 * (19092), `SERVICES_KAFKA_BROKERS` (1; 3 for a cluster of three nodes on
 * 19092, 19094 and 19096) and `SERVICES_MINIO_PORT` (19000).
 *
 * @param env The variables to read; the process's environment by default.
 * @throws {RangeError} When a port is not an integer from 1024 to 65534, or
 * the number of brokers not one from 1 to 9.
 */
export function servicesSettings(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): ServicesSettings {
  const dir = env.SERVICES_DIR;
  const root = dir ? resolve(dir) : SERVICES_DIR;
  const port = (name: string, fallback: number) => {
    const text = env[name];
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(value) || value < 1024 || value > 65534) {
      throw new RangeError(
        `Cannot start the services as '${name}' must be a port from 1024 to 65534 (the next port is taken too): current value is ${
          JSON.stringify(text)
        }`,
      );
    }
    return value;
  };
  const brokers = env.SERVICES_KAFKA_BROKERS;
  const kafkaNodes = brokers === undefined || brokers === ""
    ? 1
    : Number(brokers);
  if (!Number.isInteger(kafkaNodes) || kafkaNodes < 1 || kafkaNodes > 9) {
    throw new RangeError(
      `Cannot start the services as 'SERVICES_KAFKA_BROKERS' must be an integer from 1 to 9: current value is ${
        JSON.stringify(brokers)
      }`,
    );
  }
  return {
    root,
    envFile: root === SERVICES_DIR ? SERVICES_ENV : join(root, "services.env"),
    kafkaPort: port("SERVICES_KAFKA_PORT", 19092),
    kafkaNodes,
    minioPort: port("SERVICES_MINIO_PORT", 19000),
  };
}

/** Starts (or finds running) the Kafka of a set of services. */
export function startServicesKafka(settings: ServicesSettings) {
  return startKafka({
    root: settings.root,
    cache: userCache(),
    port: settings.kafkaPort,
    controllerPort: settings.kafkaPort + 1,
    nodes: settings.kafkaNodes,
  });
}

/** Starts (or finds running) the MinIO of a set of services. */
export function startServicesMinio(settings: ServicesSettings) {
  return startMinio({
    root: settings.root,
    cache: userCache(),
    port: settings.minioPort,
    consolePort: settings.minioPort + 1,
  });
}

/**
 * Starts Kafka and MinIO (or reuses them), creates the lake bucket, and
 * writes the set's `services.env`.
 *
 * @param settings Which set; the one the environment names by default.
 * @returns `KAFKA_BROKERS`, `S3_ENDPOINT`, `S3_BUCKET`, `S3_REGION` and the S3 credentials.
 * @throws {Error} With a clear message when Java, Maven or Go is missing or a service does not start.
 */
export async function servicesUp(
  settings: ServicesSettings = servicesSettings(),
): Promise<ServicesEnv> {
  const [kafka, minio] = await Promise.all([
    startServicesKafka(settings),
    startServicesMinio(settings),
  ]);
  const env: ServicesEnv = {
    KAFKA_BROKERS: kafka.brokers,
    S3_ENDPOINT: minio.endpoint,
    S3_BUCKET: minio.bucket,
    S3_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: minio.accessKeyId,
    AWS_SECRET_ACCESS_KEY: minio.secretAccessKey,
  };
  await Deno.writeTextFile(settings.envFile, formatEnv(env), { mode: 0o600 });
  return env;
}

/**
 * Stops Kafka and MinIO; their data stays for the next `servicesUp`.
 *
 * @param settings Which set; the one the environment names by default.
 */
export async function servicesDown(
  settings: ServicesSettings = servicesSettings(),
): Promise<{ kafka: boolean; minio: boolean }> {
  const [kafka, minio] = await Promise.all([
    stopKafka(settings.root),
    stopMinio(settings.root),
  ]);
  return { kafka, minio };
}

/** `KEY=value` lines. */
export function formatEnv(env: ServicesEnv): string {
  return Object.entries(env).map(([key, value]) => `${key}=${value}\n`).join(
    "",
  );
}
