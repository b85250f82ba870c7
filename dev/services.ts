/**
 * The native development services, without Docker: Kafka (KRaft) and MinIO on
 * loopback, reused when already running. {@linkcode servicesUp} returns the
 * variables that point the pipeline at them and writes them to
 * `services.env` at the project root.
 *
 * @module
 */
import { join } from "node:path";
import { PROJECT_ROOT } from "../lib/runtime/project.ts";
import { startKafka, stopKafka } from "./services/kafka.ts";
import { startMinio, stopMinio } from "./services/minio.ts";
import { userCache } from "./cache.ts";

/** Runtime files of the services (pid, logs, data): git-ignored. */
export const SERVICES_DIR = join(PROJECT_ROOT, ".services");

/** The file `services:up` writes its variables to. */
export const SERVICES_ENV = join(PROJECT_ROOT, "services.env");

/** The variables that point the pipeline at the running services. */
export type ServicesEnv = Record<string, string>;

/**
 * Starts Kafka and MinIO (or reuses them), creates the lake bucket, and
 * writes `services.env`.
 *
 * @returns `KAFKA_BROKERS`, `S3_ENDPOINT`, `S3_BUCKET`, `S3_REGION` and the S3 credentials.
 * @throws {Error} With a clear message when Java, Maven or Go is missing or a service does not start.
 */
export async function servicesUp(): Promise<ServicesEnv> {
  const cache = userCache();
  const port = (name: string, fallback: number) =>
    Number(Deno.env.get(name) ?? fallback);
  const [kafka, minio] = await Promise.all([
    startKafka({
      root: SERVICES_DIR,
      cache,
      port: port("SERVICES_KAFKA_PORT", 19092),
    }),
    startMinio({
      root: SERVICES_DIR,
      cache,
      port: port("SERVICES_MINIO_PORT", 19000),
    }),
  ]);
  const env: ServicesEnv = {
    KAFKA_BROKERS: kafka.brokers,
    S3_ENDPOINT: minio.endpoint,
    S3_BUCKET: minio.bucket,
    S3_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: minio.accessKeyId,
    AWS_SECRET_ACCESS_KEY: minio.secretAccessKey,
  };
  await Deno.writeTextFile(SERVICES_ENV, formatEnv(env), { mode: 0o600 });
  return env;
}

/** Stops Kafka and MinIO; their data stays for the next `servicesUp`. */
export async function servicesDown(): Promise<
  { kafka: boolean; minio: boolean }
> {
  const [kafka, minio] = await Promise.all([
    stopKafka(SERVICES_DIR),
    stopMinio(SERVICES_DIR),
  ]);
  return { kafka, minio };
}

/** `KEY=value` lines. */
export function formatEnv(env: ServicesEnv): string {
  return Object.entries(env).map(([key, value]) => `${key}=${value}\n`).join(
    "",
  );
}
