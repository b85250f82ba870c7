/**
 * The embedded warehouse: a DuckDB file through `@duckdb/node-api`.
 *
 * A DuckDB file takes one writing process at a time, and a reader that has it
 * open keeps the writer out, so the loader holds it only while loading and
 * {@linkcode DuckDBWarehouse.close} releases it before dbt opens it. Opening
 * waits (with backoff) while another process holds it, and names that
 * process (./lock_wait.ts); readers are meant to open the gold copy
 * instead (./gold_copy.ts).
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBValue,
} from "@duckdb/node-api";
import { logger } from "../../runtime/log.ts";
import { checkObject, type LoadFile } from "./line_check.ts";
import { waitForLock } from "./lock_wait.ts";
import { GOLD_COPY_NAME } from "./gold_copy.ts";
import { mapLimit } from "../../runtime/map_limit.ts";
import {
  type Inventory,
  offsetsByPartition,
  type SilverInventory,
  type WarehouseInventory,
} from "../inventory.ts";
import {
  CoordinateClashError,
  type DiscoveryState,
  type LoadBatch,
  type LoadMark,
  type LoadResult,
  type Warehouse,
} from "../warehouse.ts";
import {
  BOOTSTRAP,
  CANDIDATES,
  CLASHES,
  DROP_STAGING,
  INVENTORY_RAW,
  INVENTORY_REJECTED,
  INVENTORY_SILVER,
  LOAD,
  MARKS,
  matchSql,
  NATIVE_DIGESTS,
  REPEATS,
  SAVE_MARK,
  SAVE_SWEEP,
  SILVER_BUILT,
  STAGED,
  stageLinesSql,
  STAGING,
  SWEPT,
  UNLOADED,
} from "./sql.ts";

/** Options for {@linkcode DuckDBWarehouse.open}. */
export interface DuckDBWarehouseOptions {
  /**
   * How long to wait for another process (dbt, a reader) to release the file, in milliseconds.
   *
   * @default {60000}
   */
  lockWaitMs?: number;
  /**
   * The gold copy readers should open instead, named when one holds the file too long.
   *
   * @default {"gold_copy.duckdb beside the file"}
   */
  goldCopy?: string;
}

const log = logger("duckdb");

/** The DuckDB warehouse. */
export class DuckDBWarehouse implements Warehouse, WarehouseInventory {
  /** The database file, absolute. */
  readonly location: string;
  #instance: DuckDBInstance;
  #connection: DuckDBConnection;

  private constructor(
    location: string,
    instance: DuckDBInstance,
    connection: DuckDBConnection,
  ) {
    this.location = location;
    this.#instance = instance;
    this.#connection = connection;
  }

  /**
   * Opens (creating if needed) the database file and its RAW tables.
   *
   * @param path The database file.
   * @param options How long to wait for the file's lock, and the gold copy to point readers at.
   * @returns The warehouse.
   * @throws {Error} When another process still holds the file after
   * `lockWaitMs`: the error names it (PID, program and command line, as far
   * as the operating system tells) and the gold copy.
   */
  static async open(
    path: string,
    options: DuckDBWarehouseOptions = {},
  ): Promise<DuckDBWarehouse> {
    const location = resolve(path);
    const {
      lockWaitMs = 60_000,
      goldCopy = join(dirname(location), GOLD_COPY_NAME),
    } = options;
    await Deno.mkdir(dirname(location), { recursive: true });
    return await waitForLock({
      path: location,
      action: "open the DuckDB warehouse",
      goldCopy,
      lockWaitMs,
    }, async () => {
      const instance = await DuckDBInstance.create(location);
      const connection = await instance.connect();
      await connection.run(BOOTSTRAP);
      return new DuckDBWarehouse(location, instance, connection);
    });
  }

  /** Keys of the objects in the load ledger (reconciliation reads them all). */
  async loadedKeys(): Promise<Set<string>> {
    const reader = await this.#connection.runAndReadAll(
      "select file_name from raw.load_ledger",
    );
    return new Set(reader.getRows().map((row) => row[0] as string));
  }

  /** Of `keys`, those the load ledger does not hold, compared in SQL. */
  async unloadedKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const connection = this.#connection;
    await connection.run(CANDIDATES);
    await append(connection, "candidate_keys", (rows) => {
      for (const key of keys) {
        rows.appendVarchar(key);
        rows.endRow();
      }
    });
    let least = keys[0];
    let greatest = keys[0];
    for (const key of keys) {
      if (key < least) least = key;
      if (key > greatest) greatest = key;
    }
    const reader = await connection.runAndReadAll(UNLOADED, [least, greatest]);
    await connection.run("drop table candidate_keys");
    return new Set(reader.getRows().map((row) => row[0] as string));
  }

  /** Discovery's recent marks of `topic`, and whether its prefix was swept. */
  async discoveryState(
    topic: string,
    lookbackDays: number,
  ): Promise<DiscoveryState> {
    const connection = this.#connection;
    const [[swept]] = (await connection.runAndReadAll(SWEPT, [topic]))
      .getRows();
    const marks = (await connection.runAndReadAll(MARKS, [topic, lookbackDays]))
      .getRows().map(([day, partition, tag, key]) => ({
        day: String(day),
        partition: Number(partition),
        tag: String(tag),
        key: String(key),
      }));
    return { swept: Number(swept) > 0, marks };
  }

  /** Moves marks forward and records a sweep, in one transaction. */
  async saveMarks(
    topic: string,
    marks: LoadMark[],
    swept: boolean,
  ): Promise<void> {
    if (marks.length === 0 && !swept) return;
    const connection = this.#connection;
    await connection.run("begin transaction");
    try {
      for (const mark of marks) {
        await connection.run(SAVE_MARK, [
          topic,
          mark.day,
          mark.partition,
          mark.tag,
          mark.key,
        ]);
      }
      if (swept) await connection.run(SAVE_SWEEP, [topic]);
      await connection.run("commit");
    } catch (error) {
      await connection.run("rollback").catch(() => {});
      throw error;
    }
  }

  /**
   * Reads the objects and checks each line (./line_check.ts), then loads them in
   * one transaction; rows already loaded (same coordinates) are skipped.
   *
   * Each object is fetched once into a scratch directory. While every line
   * is checked here with the event contract, DuckDB reads the same files
   * itself; an object whose lines all pass, and whose native read has the
   * same lines (count, and sums of lengths and coordinates), is staged from
   * that read. An object with a refused line, or one DuckDB cannot read, is
   * staged from the checked rows instead.
   */
  async load({ lake, objects }: LoadBatch): Promise<LoadResult> {
    const connection = this.#connection;
    const dir = await Deno.makeTempDir({ prefix: "stocks-load-" });
    try {
      const bodies = await mapLimit(objects, 8, async (object, index) => {
        const body = await lake.get(object.key);
        await Deno.writeFile(join(dir, `${index}.ndjson.gz`), body);
        return body;
      });
      await connection.run(STAGING);
      const nativeRead = connection.run(stageLinesSql(dir)).then(
        () => true,
        (error) => {
          log.debug("DuckDB could not read the objects; staging checked rows", {
            error: (error as Error).message,
          });
          return false;
        },
      );
      // A clean object's rows are dropped once digested: if DuckDB read it
      // differently, it is checked again from its body.
      const checked = await mapLimit(
        objects,
        8,
        async (object, index) =>
          digested(await checkObject(object, bodies[index])),
      );
      const native = await nativeRead
        ? await nativelyRead(connection, checked)
        : new Set<number>();
      log.debug("staged", {
        native_objects: native.size,
        checked_objects: objects.length - native.size,
      });
      for (const [index, file] of checked.entries()) {
        if (!native.has(index) && file.rows === undefined) {
          file.rows = (await checkObject(objects[index], bodies[index])).rows;
        }
      }
      return await this.#stage(checked, native);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  async #stage(
    files: CheckedObject[],
    native: Set<number>,
  ): Promise<LoadResult> {
    const connection = this.#connection;
    await append(connection, "staging_files", (rows) => {
      for (const [index, file] of files.entries()) {
        rows.appendInteger(index);
        rows.appendVarchar(file.key);
        rows.appendBigInt(BigInt(file.size));
        rows.appendInteger(file.rowCount + file.rejected.length);
        rows.appendBoolean(native.has(index));
        rows.endRow();
      }
    });
    await append(connection, "staging_rows", (rows) => {
      for (const [index, file] of files.entries()) {
        if (native.has(index)) continue;
        for (const row of file.rows ?? []) {
          rows.appendVarchar(row.line);
          rows.appendVarchar(row.streamId);
          rows.appendVarchar(row.topic);
          rows.appendInteger(row.partition);
          rows.appendBigInt(BigInt(row.offset));
          rows.appendBigInt(BigInt(row.timestamp));
          rows.appendVarchar(file.key);
          rows.endRow();
        }
      }
    });
    await append(connection, "staging_rejects", (rows) => {
      for (const file of files) {
        for (const rejected of file.rejected) {
          rows.appendVarchar(file.key);
          rows.appendInteger(rejected.lineNumber);
          rows.appendVarchar(rejected.line);
          rows.appendVarchar(rejected.reason.field);
          rows.appendVarchar(rejected.reason.value);
          rows.appendVarchar(rejected.reason.rule);
          rows.endRow();
        }
      }
    });
    await connection.run(STAGED);
    const [[repeated, repeatClashes, repeatExample]] =
      (await connection.runAndReadAll(REPEATS)).getRows();
    if (Number(repeatClashes) > 0) {
      await connection.run(DROP_STAGING);
      throw new CoordinateClashError(
        Number(repeatClashes),
        String(repeatExample),
      );
    }
    let inserted: number;
    try {
      await connection.run(matchSql(Number(repeated) > 0));
      const [[clashes, example]] = (await connection.runAndReadAll(CLASHES))
        .getRows();
      if (Number(clashes) > 0) {
        throw new CoordinateClashError(Number(clashes), String(example));
      }
      const [[count]] = (await connection.runAndReadAll(
        "select count(*)::integer from fresh where not loaded_before",
      )).getRows();
      inserted = count as number;
      await connection.run(LOAD);
    } catch (error) {
      await connection.run("rollback").catch(() => {});
      await connection.run("drop table if exists fresh; " + DROP_STAGING)
        .catch(() => {});
      throw error;
    }
    const rows = files.reduce((n, f) => n + f.rowCount, 0);
    const rejected = files.reduce((n, f) => n + f.rejected.length, 0);
    await connection.run("drop table fresh; " + DROP_STAGING);
    return {
      files: files.length,
      rows,
      inserted,
      duplicates: rows - inserted,
      rejected,
    };
  }

  /** What RAW and silver hold of one log's topic (silver null until dbt built it). */
  async inventory(streamId: string, topic: string): Promise<Inventory> {
    const rows = async (sql: string) =>
      (await this.#connection.runAndReadAll(sql, [streamId, topic])).getRows();
    const raw = offsetsByPartition(
      (await rows(INVENTORY_RAW)) as [unknown, unknown][],
    );
    const rejected = offsetsByPartition(
      (await rows(INVENTORY_REJECTED)) as [unknown, unknown][],
    );
    const [[built]] = (await this.#connection.runAndReadAll(SILVER_BUILT))
      .getRows();
    let silver: SilverInventory | null = null;
    if (Number(built) === 1) {
      const [[rowsFromLog, quarantined, lost, duplicated]] = await rows(
        INVENTORY_SILVER,
      );
      silver = {
        rows: Number(rowsFromLog),
        quarantined: Number(quarantined),
        lost: Number(lost),
        duplicated: Number(duplicated),
      };
    }
    return { raw, rejected, silver };
  }

  /**
   * Runs one read-only query on the open file (for the continuous mode's
   * freshness measures; not part of the Warehouse seam).
   *
   * @param sql The query, with `$1`… parameters.
   * @param params Their values.
   * @returns The rows.
   */
  async query(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return (await this.#connection.runAndReadAll(
      sql,
      params as DuckDBValue[],
    )).getRows();
  }

  /** Closes the connection and releases the file. */
  close(): Promise<void> {
    this.#connection.closeSync();
    this.#instance.closeSync();
    return Promise.resolve();
  }
}

async function append(
  connection: DuckDBConnection,
  table: string,
  fill: (appender: DuckDBAppender) => void,
): Promise<void> {
  const appender = await connection.createAppender(table, "main", "temp");
  try {
    fill(appender);
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/** A checked object: its counts and digest, and its rows until known to be unneeded. */
interface CheckedObject {
  key: string;
  size: number;
  rowCount: number;
  rejected: LoadFile["rejected"];
  /** Lines, and sums of lengths, partitions and offsets of a clean object; else null. */
  digest: string | null;
  rows: LoadFile["rows"] | undefined;
}

/** Keeps a clean object's digest instead of its rows. */
function digested(file: LoadFile): CheckedObject {
  const clean = file.rejected.length === 0 && file.rows.length > 0;
  let length = 0;
  let partitions = 0;
  let offsets = 0n;
  if (clean) {
    for (const row of file.rows) {
      length += row.line.length;
      partitions += row.partition;
      offsets += BigInt(row.offset);
    }
  }
  return {
    key: file.key,
    size: file.size,
    rowCount: file.rows.length,
    rejected: file.rejected,
    digest: clean
      ? [file.rows.length, length, partitions, offsets].join("/")
      : null,
    rows: clean ? undefined : file.rows,
  };
}

/**
 * The objects DuckDB read line for line as checked: every line valid, and
 * the same count and sums of lengths, partitions and offsets. (A length
 * counted differently, such as a character outside the BMP, only sends the
 * object to the checked rows.)
 */
async function nativelyRead(
  connection: DuckDBConnection,
  files: CheckedObject[],
): Promise<Set<number>> {
  const digests = new Map<number, string>();
  const reader = await connection.runAndReadAll(NATIVE_DIGESTS);
  for (const [index, ...sums] of reader.getRows()) {
    digests.set(Number(index), sums.join("/"));
  }
  const native = new Set<number>();
  for (const [index, file] of files.entries()) {
    if (file.digest !== null && digests.get(index) === file.digest) {
      native.add(index);
    }
  }
  return native;
}
