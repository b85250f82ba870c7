/**
 * Checks the local paths a task will write before it does any work, so a bad
 * `DUCKDB_PATH`, `LAKE_DIR` or `STREAM_DIR` stops the run at once with one
 * line naming the variable, instead of after minutes of producing.
 *
 * Only what is on this machine is checked here; Kafka, S3 and Snowflake are
 * checked by connecting to them.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { Config } from "../runtime/config.ts";
import { lastingFsError } from "../runtime/fs_errors.ts";

/** Which of the configured stores a task writes. */
export interface PreflightUses {
  /** The stream (embedded: `STREAM_DIR`). */
  stream?: boolean;
  /** The lake (local: `LAKE_DIR`). */
  lake?: boolean;
  /** The warehouse (DuckDB: `DUCKDB_PATH`). */
  warehouse?: boolean;
}

/** The bytes at offset 8 of every DuckDB database file. */
const DUCKDB_MAGIC = "DUCK";

/**
 * Checks that the task can write each local store it uses.
 *
 * @param config The configuration.
 * @param uses The stores the task writes.
 * @throws {RangeError} "Cannot use 'VARIABLE' as <reason>: current value is …"
 * for the first store that cannot be written.
 */
export async function preflight(
  config: Config,
  uses: PreflightUses,
): Promise<void> {
  if (uses.stream && !config.kafkaBrokers) {
    await checkDirectory("STREAM_DIR", config.streamDir);
  }
  if (uses.lake && !config.s3Bucket) {
    await checkDirectory("LAKE_DIR", config.lakeDir);
  }
  if (uses.warehouse && config.warehouse === "duckdb") {
    await checkDuckDBFile("DUCKDB_PATH", config.duckdbPath);
  }
}

/** The directory exists or can be created, and a file can be written in it. */
async function checkDirectory(
  key: string,
  dir: string,
  value = dir,
): Promise<void> {
  const path = resolve(dir);
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    refuse(key, value, error, true);
  }
  const probe = join(path, `.write-check-${crypto.randomUUID()}`);
  try {
    await Deno.writeFile(probe, new Uint8Array(), { createNew: true });
  } catch (error) {
    refuse(key, value, error, false);
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

/** The path is a DuckDB file, or a new file can be created there. */
async function checkDuckDBFile(key: string, file: string): Promise<void> {
  const path = resolve(file);
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) refuse(key, file, error);
  }
  if (info === undefined) {
    await checkDirectory(key, dirname(path), file);
    return;
  }
  if (!info.isFile) {
    throw new RangeError(
      `Cannot use '${key}' as it must be a DuckDB database file, not a directory: current value is ${
        JSON.stringify(file)
      }`,
    );
  }
  if (info.size === 0) return; // DuckDB makes a database of an empty file
  const header = new Uint8Array(12);
  try {
    using handle = await Deno.open(path, { read: true, write: true });
    await handle.read(header);
  } catch (error) {
    refuse(key, file, error);
  }
  if (new TextDecoder().decode(header.subarray(8, 12)) !== DUCKDB_MAGIC) {
    throw new RangeError(
      `Cannot use '${key}' as it must be a DuckDB database file and this file is not one: current value is ${
        JSON.stringify(file)
      }`,
    );
  }
}

function refuse(
  key: string,
  value: string,
  error: unknown,
  mkdir = false,
): never {
  const reason = lastingFsError(error, mkdir) ??
    `it cannot be written (${(error as Error).message})`;
  throw new RangeError(
    `Cannot use '${key}' as ${reason}: current value is ${
      JSON.stringify(value)
    }`,
  );
}
