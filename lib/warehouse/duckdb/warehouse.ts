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
  listValue,
} from "@duckdb/node-api";
import type { EventKind } from "../../contract/kinds.ts";
import { logger } from "../../runtime/log.ts";
import { gzipFileSize, gzipSize } from "../../lake/ndjson.ts";
import { checkObject, type LoadFile } from "./line_check.ts";
import { cleanObjects } from "./clean_objects.ts";
import { waitForLock } from "./lock_wait.ts";
import { GOLD_COPY_NAME } from "./gold_copy.ts";
import { mapLimit } from "../../runtime/map_limit.ts";
import {
  type Inventory,
  offsetsByPartition,
  runsByPartition,
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
  BATCH_BOUNDS,
  BEGIN,
  BOOTSTRAP,
  CANDIDATES,
  clashesSql,
  DEDUPLICATED,
  DROP_STAGING,
  freshSql,
  INVENTORY_SILVER,
  inventoryRawBoundsSql,
  inventoryRawSql,
  inventoryRejectedSql,
  islandsSql,
  loadAllSql,
  LOADED_BEFORE,
  loadFreshSql,
  MIGRATE_RAW,
  OVERLAP_COUNT,
  OVERLAPS,
  RAW_HAS_KEY,
  reloadOverlapsSql,
  REPEATS,
  SAVE_MARK,
  SAVE_SWEEP,
  SILVER_BUILT,
  STAGED,
  stageLinesSql,
  STAGING,
  UNLOADED,
} from "./sql.ts";
import { readDiscoveryState } from "./discovery_state.ts";

/** Options for {@linkcode DuckDBWarehouse.open}. */
export interface DuckDBWarehouseOptions {
  /**
   * How long to wait for another process (dbt, a reader) to release the file, in milliseconds.
   *
   * @default {60000}
   */
  lockWaitMs?: number;
  /**
   * DuckDB's memory limit for this process, in MiB: past it, DuckDB spills
   * to temporary files instead of growing, so a load's memory stays bounded
   * whatever its size.
   *
   * @default {128}
   */
  memoryMib?: number;
  /**
   * The gold copy readers should open instead, named when one holds the file too long.
   *
   * @default {"gold_copy.duckdb beside the file"}
   */
  goldCopy?: string;
}

const log = logger("duckdb");

/**
 * Offsets of a partition that one query of RAW's runs covers: the window
 * bounds the query's sort, so reconciling ten million rows takes no more
 * memory than one million.
 */
const INVENTORY_WINDOW = 1_000_000;

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
      memoryMib = 128,
      goldCopy = join(dirname(location), GOLD_COPY_NAME),
    } = options;
    await Deno.mkdir(dirname(location), { recursive: true });
    return await waitForLock({
      path: location,
      action: "open the DuckDB warehouse",
      goldCopy,
      lockWaitMs,
    }, async () => {
      const instance = await DuckDBInstance.create(location, {
        memory_limit: `${memoryMib}MiB`,
      });
      const connection = await instance.connect();
      await connection.run(BOOTSTRAP);
      const [[keyed]] = (await connection.runAndReadAll(RAW_HAS_KEY))
        .getRows();
      if (Number(keyed) > 0) {
        log.info("moving RAW to offset ranges, once", { location });
        await connection.run(MIGRATE_RAW).catch(async (error) => {
          await connection.run("rollback").catch(() => {});
          throw error;
        });
      }
      return new DuckDBWarehouse(location, instance, connection);
    });
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
    return await readDiscoveryState(
      async (sql, params) =>
        (await connection.runAndReadAll(sql, params)).getRows(),
      topic,
      lookbackDays,
    );
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
   * Reads the objects, checks their lines and loads them in one
   * transaction; rows whose coordinates RAW holds already are skipped.
   *
   * DuckDB reads each object's file itself and checks every line in SQL
   * (./line_rules.ts): a local lake's file where it is, any other object
   * fetched once into a scratch directory. An object whose
   * lines all pass, and whose lines hold the topic, partition and first and
   * last offsets its name gives, is staged from that read. Any other
   * object, or every object when DuckDB cannot read them, is checked line by
   * line in TypeScript (./line_check.ts), which stages its valid rows and
   * keeps each refused line with its reason.
   *
   * Rows RAW holds already are found by offset ranges: the batch's runs of
   * consecutive offsets against `raw.loaded_ranges`, never a probe per row.
   * Only rows in an overlap (objects read again after a consumer crash) are
   * compared with RAW's content, and one that differs is a clash that rolls
   * the load back. A backfill's reload compares with RAW itself, so rows
   * deleted from RAW come back.
   */
  async load(
    { kind = "quotes", lake, objects, reload }: LoadBatch,
  ): Promise<LoadResult> {
    const connection = this.#connection;
    const now = Date.now();
    const dir = await Deno.makeTempDir({ prefix: "stocks-load-" });
    try {
      // An object of a local lake is read where it is; any other is fetched
      // into the scratch directory.
      const local = objects.map((object) => lake.localPath?.(object.key));
      const files = local.map((file, index) =>
        file ?? join(dir, `${index}.ndjson.gz`)
      );
      const sizes = await mapLimit(objects, 8, async (object, index) => {
        if (local[index] !== undefined) {
          return await gzipFileSize(local[index]);
        }
        const body = await lake.get(object.key);
        await Deno.writeFile(files[index], body);
        return gzipSize(body);
      });
      await connection.run(STAGING);
      await append(connection, "staging_paths", (rows) => {
        for (const [index, file] of files.entries()) {
          rows.appendInteger(index);
          rows.appendVarchar(file);
          rows.endRow();
        }
      });
      const read = await connection.run(stageLinesSql(kind), [
        now,
        listValue(files),
      ]).then(
        () => true,
        (error) => {
          const message = (error as Error).message;
          if (message.startsWith("Out of Memory Error")) {
            // Checking each line in TypeScript would take more memory still.
            throw new Error(
              `Cannot load ${objects.length} objects as DuckDB ran out of its memory limit reading them; raise DUCKDB_MEMORY_MIB or lower LOAD_MAX_EVENTS: ${
                message.split("\n")[0]
              }`,
            );
          }
          log.warn(
            "DuckDB could not read the objects; checking each line in TypeScript",
            { objects: objects.length, error: message.split("\n")[0] },
          );
          return false;
        },
      );
      const native = read
        ? await cleanObjects(connection, objects, sizes)
        : new Map<number, number>();
      log.debug("staged", {
        native_objects: native.size,
        checked_objects: objects.length - native.size,
      });
      const staged = await mapLimit(
        objects,
        4,
        async (object, index): Promise<StagedObject> => {
          const lines = native.get(index);
          if (lines !== undefined) {
            return {
              key: object.key,
              size: object.size,
              lines,
              rows: [],
              rejected: [],
            };
          }
          const checked = await checkObject(
            object,
            await Deno.readFile(files[index]),
            { now },
            kind,
          );
          return {
            key: object.key,
            size: object.size,
            lines: checked.rows.length + checked.rejected.length,
            rows: checked.rows,
            rejected: checked.rejected,
          };
        },
      );
      return await this.#stage(kind, staged, native, reload);
    } catch (error) {
      await connection.run("rollback").catch(() => {});
      await connection.run(DROP_STAGING).catch(() => {});
      throw error;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  async #stage(
    kind: EventKind,
    files: StagedObject[],
    native: Map<number, number>,
    reload: boolean,
  ): Promise<LoadResult> {
    const connection = this.#connection;
    await append(connection, "staging_files", (rows) => {
      for (const [index, file] of files.entries()) {
        rows.appendInteger(index);
        rows.appendVarchar(file.key);
        rows.appendBigInt(BigInt(file.size));
        rows.appendInteger(file.lines);
        rows.appendBoolean(native.has(index));
        rows.endRow();
      }
    });
    await append(connection, "staging_rows", (rows) => {
      for (const file of files) {
        for (const row of file.rows) {
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
    await connection.run(BEGIN);
    await connection.run(islandsSql("staged_rows"));
    let [[least, greatest, repeated]] = await this.query(BATCH_BOUNDS);
    let source: "staged_rows" | "batch" = "staged_rows";
    if (Number(repeated ?? 0) > 0) {
      // A coordinate twice in the batch: the same event (objects that
      // overlap) loads once, different events are a clash.
      const [[, clashes, example]] = await this.query(REPEATS);
      if (Number(clashes) > 0) {
        throw new CoordinateClashError(Number(clashes), String(example));
      }
      await connection.run(DEDUPLICATED);
      source = "batch";
      await connection.run(islandsSql(source));
      [[least, greatest]] = await this.query(BATCH_BOUNDS);
    }
    await connection.run(reload ? reloadOverlapsSql(kind) : OVERLAPS, [
      least ?? 0,
      greatest ?? -1,
    ] as DuckDBValue[]);
    const [[overlaps]] = await this.query(OVERLAP_COUNT);
    let before = 0;
    const rows = files.reduce((n, f) => n + f.lines - f.rejected.length, 0);
    const insert = (sql: string) =>
      rows >= ROW_GROUP_ROWS
        ? singleThreaded(connection, sql)
        : connection.run(sql).then(() => {});
    if (Number(overlaps) === 0) {
      await insert(loadAllSql(kind, source));
    } else {
      await connection.run(freshSql(source));
      const [[count, low, high]] = await this.query(LOADED_BEFORE);
      before = Number(count);
      const [[clashes, example]] = await this.query(clashesSql(kind), [
        low,
        high,
      ]);
      if (Number(clashes) > 0) {
        throw new CoordinateClashError(Number(clashes), String(example));
      }
      await insert(loadFreshSql(kind));
    }
    await connection.run(DROP_STAGING);
    const rejected = files.reduce((n, f) => n + f.rejected.length, 0);
    const inserted = rows - before - Number(repeated ?? 0);
    return {
      files: files.length,
      rows,
      inserted,
      duplicates: rows - inserted,
      rejected,
    };
  }

  /** What RAW and silver hold of one log's topic (silver null until dbt built it). */
  async inventory(
    streamId: string,
    topic: string,
    kind: EventKind = "quotes",
  ): Promise<Inventory> {
    const rows = async (sql: string) =>
      (await this.#connection.runAndReadAll(sql, [streamId, topic])).getRows();
    const runs: unknown[][] = [];
    for (
      const [partition, low, high] of await rows(inventoryRawBoundsSql(kind))
    ) {
      for (
        let first = Number(low);
        first <= Number(high);
        first += INVENTORY_WINDOW
      ) {
        const last = first + INVENTORY_WINDOW - 1;
        const window = await this.#connection.runAndReadAll(
          inventoryRawSql(kind),
          [
            streamId,
            topic,
            partition,
            first,
            last,
          ],
        );
        for (const run of window.getRows()) runs.push(run);
      }
    }
    const raw = runsByPartition(
      runs as [unknown, unknown, unknown, unknown][],
    );
    const rejected = offsetsByPartition(
      (await rows(inventoryRejectedSql(kind))) as [unknown, unknown][],
    );
    const [[built]] = (await this.#connection.runAndReadAll(SILVER_BUILT))
      .getRows();
    let silver: SilverInventory | null = null;
    if (Number(built) === 1) {
      const [[rowsFromLog, quarantined, lost, duplicated]] =
        (await this.#connection.runAndReadAll(INVENTORY_SILVER, [
          streamId,
          topic,
          kind,
        ])).getRows();
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

/**
 * Rows of one DuckDB row group: a load of fewer rows inserts them on as many
 * threads as DuckDB has, as switching to one costs about 20 ms.
 */
const ROW_GROUP_ROWS = 122_880;

/**
 * Runs the insert into RAW (and the commit after it) on one DuckDB thread.
 * With two threads DuckDB builds a row group per thread and keeps both in
 * memory while it orders them: the load's peak memory was 590 to 630 MiB
 * with two threads and 400 to 490 MiB with one (250,000 to 1,000,000 rows a
 * transaction), for about 15% more time in this one statement.
 */
async function singleThreaded(
  connection: DuckDBConnection,
  sql: string,
): Promise<void> {
  await connection.run("set threads = 1");
  try {
    await connection.run(sql);
  } catch (error) {
    // Out of the failed transaction first, so that the reset can run.
    await connection.run("rollback").catch(() => {});
    throw error;
  } finally {
    await connection.run("reset threads");
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

/** An object of a load: its line count, and the rows and refusals of a TypeScript check. */
interface StagedObject {
  key: string;
  size: number;
  /** Lines in the object. */
  lines: number;
  /** Rows checked in TypeScript; empty for an object staged from DuckDB's read. */
  rows: LoadFile["rows"];
  rejected: LoadFile["rejected"];
}
