/**
 * The production warehouse: Snowflake, loaded with `COPY INTO` from a stage.
 *
 * A load copies its objects from a stage into the transient table
 * `RAW.STAGED_STOCK_QUOTES`, then, in the same transaction, inserts into
 * `RAW.SOURCE_STOCK_QUOTES` the rows whose stream coordinates are new,
 * records each object in `RAW.LOAD_LEDGER` and clears what it staged. So a
 * load never duplicates a row, and it is idempotent twice over: the loader
 * passes only objects the ledger does not hold, and COPY's own load history
 * (kept on the staging table, which is only ever deleted from, never
 * truncated) skips a file it loaded within 64 days. A recreated RAW table or
 * an object older than COPY's history is still caught by the ledger.
 *
 * Two stages, chosen by `SNOWFLAKE_STAGE`:
 *
 * - `internal`: the loader downloads each object and PUTs it, unchanged, to
 *   the internal stage `RAW.LAKE_STAGE` under its lake key; COPY purges what
 *   it loaded. Works with any S3 server, MinIO included.
 * - `external`: COPY reads the objects in place through the stage
 *   `RAW.LAKE_BUCKET` on `s3://<bucket>/` and its storage integration: no
 *   download, no upload.
 *
 * Statements go through a {@linkcode SnowflakeSession}; the real one is
 * ./driver.ts. Values travel as binds; the names COPY
 * must see as literals (stage paths, FILES) are lake keys, checked against
 * the characters lake keys use and quoted.
 *
 * @module
 */
import type { EventKind } from "../../contract/kinds.ts";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseObjectKey } from "../../lake/keys.ts";
import type { LakeObject } from "../../lake/lake.ts";
import { logger } from "../../runtime/log.ts";
import { mapLimit } from "../../runtime/map_limit.ts";
import {
  type Inventory,
  offsetsByPartition,
  runsByPartition,
  type SilverInventory,
  type WarehouseInventory,
} from "../inventory.ts";
import { FatalError } from "../../runtime/retry.ts";
import {
  CoordinateClashError,
  type DiscoveryState,
  type LoadBatch,
  type LoadMark,
  type LoadResult,
  type Warehouse,
} from "../warehouse.ts";
import type { SnowflakeSession } from "./session.ts";
import {
  BOOTSTRAP,
  clashesSql,
  CLEAR,
  countsSql,
  EXTERNAL_STAGE,
  insertSql,
  INTERNAL_STAGE,
  INVENTORY_SILVER,
  inventoryRawSql,
  inventoryRejectedSql,
  LEDGER,
  MARKS,
  rangesSql,
  rejectCopiedSql,
  rejectSql,
  SAVE_MARKS,
  SAVE_SWEEP,
  SILVER_BUILT,
  STAGED,
  SWEPT,
  UNLOADED,
} from "./sql.ts";

/** How {@linkcode SnowflakeWarehouse} reads lake objects. */
export interface SnowflakeWarehouseOptions {
  /** `internal`: PUT each object to an internal stage; `external`: a stage on the bucket. */
  stage: "internal" | "external";
  /** COPY's ON_ERROR. */
  onError: "CONTINUE" | "SKIP_FILE" | "ABORT_STATEMENT";
  /** External stage: the bucket, e.g. `stock-quotes`. */
  bucket?: string;
  /** External stage: the storage integration that grants Snowflake the bucket. */
  storageIntegration?: string;
  /**
   * Internal stage: where objects are written before PUT.
   *
   * @default {os.tmpdir()}
   */
  tempDir?: string;
  /**
   * Files per COPY statement; Snowflake takes at most 1,000 in FILES.
   *
   * @default {1000}
   */
  filesPerCopy?: number;
}

/** Most files one COPY statement's FILES list may name. */
export const MAX_FILES_PER_COPY = 1_000;

/** COPY's result for one file (the columns Snowflake returns). */
export interface CopyFileResult {
  /** The file, relative to the stage: the lake key. */
  file: string;
  /** `LOADED`, `PARTIALLY_LOADED` or `LOAD_FAILED`. */
  status: string;
  /** Lines parsed. */
  rowsParsed: number;
  /** Lines loaded into the staging table. */
  rowsLoaded: number;
  /** Lines refused. */
  errorsSeen: number;
  /** The first refusal, if any. */
  firstError: string | null;
  /** Its line number. */
  firstErrorLine: number | null;
}

const log = logger("snowflake");

/** A COPY or PUT failed for a reason a retry will not fix. */
export class SnowflakeLoadError extends FatalError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SnowflakeLoadError";
  }
}

/** The Snowflake warehouse. */
export class SnowflakeWarehouse implements Warehouse, WarehouseInventory {
  /** Account and database, without credentials. */
  readonly location: string;
  #session: SnowflakeSession;
  #options: SnowflakeWarehouseOptions & {
    tempDir: string;
    filesPerCopy: number;
  };

  private constructor(
    session: SnowflakeSession,
    options: SnowflakeWarehouseOptions,
  ) {
    this.location = session.location;
    this.#session = session;
    this.#options = {
      tempDir: tmpdir(),
      filesPerCopy: MAX_FILES_PER_COPY,
      ...options,
    };
    if (this.#options.filesPerCopy > MAX_FILES_PER_COPY) {
      throw new RangeError(
        `Cannot load as a COPY names at most ${MAX_FILES_PER_COPY} files: current value is ${this.#options.filesPerCopy}`,
      );
    }
  }

  /**
   * Creates RAW's tables, file format and stage if missing.
   *
   * @param session A connected session whose role may create them.
   * @param options Stage and COPY settings.
   * @returns The warehouse.
   * @throws {RangeError} When the external stage lacks its bucket or storage integration.
   */
  static async open(
    session: SnowflakeSession,
    options: SnowflakeWarehouseOptions,
  ): Promise<SnowflakeWarehouse> {
    const warehouse = new SnowflakeWarehouse(session, options);
    for (const statement of [...BOOTSTRAP, warehouse.#createStage()]) {
      await session.execute(statement);
    }
    return warehouse;
  }

  #createStage(): string {
    const { stage, bucket, storageIntegration } = this.#options;
    if (stage === "internal") {
      return `create stage if not exists ${INTERNAL_STAGE} file_format = (format_name = 'RAW.LAKE_JSON')`;
    }
    if (!bucket || !storageIntegration) {
      throw new RangeError(
        `Cannot use an external stage as it needs S3_BUCKET and SNOWFLAKE_STORAGE_INTEGRATION: current values are ${
          JSON.stringify(bucket ?? null)
        } and ${JSON.stringify(storageIntegration ?? null)}`,
      );
    }
    return `create stage if not exists ${EXTERNAL_STAGE} url = ${
      literal(`s3://${bucket}/`, BUCKET_URL)
    } storage_integration = ${
      identifier(storageIntegration)
    } file_format = (format_name = 'RAW.LAKE_JSON')`;
  }

  /** Of `keys`, those the load ledger does not hold, compared in SQL. */
  async unloadedKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const sorted = keys.toSorted();
    const { rows } = await this.#session.execute(UNLOADED, [
      JSON.stringify(keys),
      sorted[0],
      sorted[sorted.length - 1],
    ]);
    return new Set(rows.map((row) => String(row.FILE_NAME)));
  }

  /** Discovery's recent marks of `topic`, and whether its prefix was swept. */
  async discoveryState(
    topic: string,
    lookbackDays: number,
  ): Promise<DiscoveryState> {
    return await readDiscoveryState(this.#session, topic, lookbackDays);
  }

  /** Moves marks forward and records a sweep, in one transaction. */
  async saveMarks(
    topic: string,
    marks: LoadMark[],
    swept: boolean,
  ): Promise<void> {
    if (marks.length === 0 && !swept) return;
    const session = this.#session;
    const now = new Date().toISOString();
    await session.execute("begin");
    try {
      if (marks.length > 0) {
        await session.execute(SAVE_MARKS, [
          topic,
          JSON.stringify(marks),
          now,
          now,
        ]);
      }
      if (swept) await session.execute(SAVE_SWEEP, [topic, now]);
      await session.execute("commit");
    } catch (error) {
      await session.execute("rollback").catch(() => {});
      throw error;
    }
  }

  /**
   * Copies the objects from the stage and loads their new rows, with their
   * ledger entries, in one transaction; any failure rolls all of it back.
   */
  async load(
    { kind = "quotes", lake, objects, reload }: LoadBatch,
  ): Promise<LoadResult> {
    if (objects.length === 0) {
      return { files: 0, rows: 0, inserted: 0, duplicates: 0, rejected: 0 };
    }
    for (const object of objects) literal(object.key, LAKE_KEY);
    const internal = this.#options.stage === "internal";
    const upload = internal ? await this.#upload(lake, objects) : undefined;
    const session = this.#session;
    const keys = JSON.stringify(objects.map((o) => o.key));
    const now = new Date().toISOString();
    await session.execute("begin");
    try {
      const copied: CopyFileResult[] = [];
      for (let i = 0; i < objects.length; i += this.#options.filesPerCopy) {
        const chunk = objects.slice(i, i + this.#options.filesPerCopy);
        copied.push(...await this.#copy(chunk, reload));
      }
      const [least, greatest] = offsetBounds(objects);
      const [clash] =
        (await session.execute(clashesSql(kind), [keys, least, greatest]))
          .rows;
      if (Number(clash?.CLASHES ?? 0) > 0) {
        throw new CoordinateClashError(
          Number(clash.CLASHES),
          String(clash.EXAMPLE),
        );
      }
      await session.execute(rejectSql(kind), [keys, now]);
      await session.execute(insertSql(kind, reload), [
        keys,
        now,
        least,
        greatest,
      ]);
      await session.execute(rangesSql(kind), [now, now]);
      const counts = new Map(
        (await session.execute(countsSql(kind), [now, now])).rows.map((row) => [
          String(row.FILE_NAME),
          { inserted: Number(row.INSERTED), rejected: Number(row.REJECTED) },
        ]),
      );
      const byFile = new Map(copied.map((c) => [c.file, c]));
      const entries = objects.map((object) => {
        const copy = byFile.get(object.key);
        const rows = copy?.rowsParsed ?? 0;
        const { inserted = 0, rejected = 0 } = counts.get(object.key) ?? {};
        const refused = rejected + (copy?.errorsSeen ?? 0);
        return {
          file: object.key,
          size: object.size,
          rows,
          inserted,
          duplicate: rows - inserted - refused,
          rejected: refused,
        };
      });
      const refusals = copied.filter((c) => c.errorsSeen > 0).map((c) => ({
        file: c.file,
        line: c.firstErrorLine ?? 0,
        rule: `COPY refused ${c.errorsSeen} line(s); first: ${c.firstError}`,
      }));
      if (refusals.length > 0) {
        await session.execute(rejectCopiedSql(kind), [
          now,
          JSON.stringify(refusals),
        ]);
      }
      await session.execute(LEDGER, [now, JSON.stringify(entries)]);
      await session.execute(CLEAR, [keys]);
      await session.execute("commit");
      const total = (name: "rows" | "inserted" | "duplicate" | "rejected") =>
        entries.reduce((sum, entry) => sum + entry[name], 0);
      return {
        files: objects.length,
        rows: total("rows"),
        inserted: total("inserted"),
        duplicates: total("duplicate"),
        rejected: total("rejected"),
      };
    } catch (error) {
      await session.execute("rollback").catch(() => {});
      throw error;
    } finally {
      if (upload) await rm(upload, { recursive: true, force: true });
    }
  }

  /** Writes the objects under a temporary directory and PUTs them, one PUT per key prefix. */
  async #upload(
    lake: LoadBatch["lake"],
    objects: LakeObject[],
  ): Promise<string> {
    const dir = await mkdtemp(join(this.#options.tempDir, "snowflake-put-"));
    try {
      await mapLimit(objects, 8, async (object) => {
        const path = join(dir, object.key);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, await lake.get(object.key));
      });
      const prefixes = [...new Set(objects.map((o) => dirname(o.key)))];
      for (const prefix of prefixes) {
        const { rows } = await this.#session.execute(
          `put ${literal(`file://${join(dir, prefix)}/*`, LOCAL_PATH)} ${
            literal(`@${INTERNAL_STAGE}/${prefix}/`, STAGE_PATH)
          } auto_compress = false source_compression = gzip overwrite = true parallel = 4`,
        );
        const failed = rows.filter((row) =>
          !["UPLOADED", "SKIPPED"].includes(String(row.status ?? row.STATUS))
        );
        if (failed.length > 0) {
          throw new SnowflakeLoadError(
            `Cannot load as PUT did not upload ${failed.length} file(s) under ${prefix}: ${
              String(failed[0].message ?? failed[0].MESSAGE ?? failed[0].status)
            }`,
          );
        }
      }
      return dir;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** One COPY of at most `filesPerCopy` objects; logs and returns each file's result. */
  async #copy(
    objects: LakeObject[],
    reload: boolean,
  ): Promise<CopyFileResult[]> {
    const internal = this.#options.stage === "internal";
    const files = objects.map((o) => literal(o.key, LAKE_KEY)).join(", ");
    const sql = `copy into ${STAGED} (v, file_name, file_row_number)
from (select $1, metadata$filename, metadata$file_row_number from @${
      internal ? INTERNAL_STAGE : EXTERNAL_STAGE
    })
files = (${files})
file_format = (format_name = 'RAW.LAKE_JSON')
on_error = ${this.#options.onError}${reload ? "\nforce = true" : ""}${
      internal ? "\npurge = true" : ""
    }`;
    const { rows } = await this.#session.execute(sql);
    const results = rows.filter((row) =>
      row.file !== undefined || row.FILE !== undefined
    )
      .map(copyFileResult);
    const skipped = objects.length - results.length;
    if (skipped > 0) {
      log.warn(
        "COPY skipped files its load history holds but the ledger does not (was the ledger emptied?); rerun with --reload to read them again",
        { skipped },
      );
    }
    for (const result of results) {
      const fields = {
        file: result.file,
        status: result.status,
        rows_parsed: result.rowsParsed,
        rows_loaded: result.rowsLoaded,
        errors: result.errorsSeen,
      };
      if (result.errorsSeen > 0 || result.status !== "LOADED") {
        log.warn("COPY refused lines of a file", {
          ...fields,
          first_error: result.firstError ?? undefined,
          first_error_line: result.firstErrorLine ?? undefined,
        });
      } else {
        log.debug("COPY loaded a file", fields);
      }
    }
    return results;
  }

  /** What RAW and silver hold of one log's topic (silver null until dbt built it). */
  async inventory(
    streamId: string,
    topic: string,
    kind: EventKind = "quotes",
  ): Promise<Inventory> {
    const session = this.#session;
    const pairs = async (sql: string) =>
      (await session.execute(sql, [streamId, topic])).rows.map((row) =>
        [row.P, row.O] as const
      );
    const raw = runsByPartition(
      (await session.execute(inventoryRawSql(kind), [streamId, topic])).rows
        .map((
          row,
        ) => [row.P, row.FIRST_OFFSET, row.LAST_OFFSET, row.N] as const),
    );
    const rejected = offsetsByPartition(
      await pairs(inventoryRejectedSql(kind)),
    );
    const [built] = (await session.execute(SILVER_BUILT)).rows;
    let silver: SilverInventory | null = null;
    if (Number(built?.N) === 1) {
      const [row] = (await session.execute(INVENTORY_SILVER, [
        streamId,
        topic,
        streamId,
        topic,
        streamId,
        topic,
        kind,
      ])).rows;
      silver = {
        rows: Number(row.SILVER_ROWS),
        quarantined: Number(row.QUARANTINED),
        lost: Number(row.LOST),
        duplicated: Number(row.DUPLICATED),
      };
    }
    return { raw, rejected, silver };
  }

  /** Closes the session. */
  async close(): Promise<void> {
    await this.#session.close();
  }
}

/** Reads one row of COPY's result, whatever the case of its column names. */
function copyFileResult(row: Record<string, unknown>): CopyFileResult {
  const get = (name: string) => row[name] ?? row[name.toUpperCase()];
  const count = (name: string) => Number(get(name) ?? 0);
  const firstError = get("first_error");
  const firstErrorLine = get("first_error_line");
  return {
    file: String(get("file")),
    status: String(get("status")),
    rowsParsed: count("rows_parsed"),
    rowsLoaded: count("rows_loaded"),
    errorsSeen: count("errors_seen"),
    firstError: firstError == null ? null : String(firstError),
    firstErrorLine: firstErrorLine == null ? null : Number(firstErrorLine),
  };
}

/** Characters of lake keys (lib/lake/keys.ts): topic, `dt=`, `partition=` (or `symbol=`, `date=`), offsets. */
const LAKE_KEY = /^[A-Za-z0-9][A-Za-z0-9._:=+\/-]*$/;
const STAGE_PATH = /^@[A-Z_.]+\/[A-Za-z0-9._:=+\/-]*$/;
const BUCKET_URL = /^s3:\/\/[a-z0-9][a-z0-9.-]*\/$/;
const LOCAL_PATH = /^file:\/\/\/[^\0\n\r]*$/;

/**
 * A single-quoted SQL literal of a name COPY or PUT must see as a literal,
 * after checking it has the shape such names have.
 *
 * @throws {SnowflakeLoadError} When the name has another shape.
 */
export function literal(value: string, shape: RegExp): string {
  if (!shape.test(value) || value.split("/").includes("..")) {
    throw new SnowflakeLoadError(
      `Cannot load as ${
        JSON.stringify(value)
      } is not a name a Snowflake stage path or file list may hold`,
    );
  }
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** An identifier (e.g. a storage integration's name), checked, not quoted. */
function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)) {
    throw new RangeError(
      `Cannot use ${
        JSON.stringify(name)
      } as a Snowflake identifier: letters, digits, _ and $ only`,
    );
  }
  return name;
}

/**
 * The least and greatest offset the objects' names give, to prune RAW and
 * its ranges; every offset when a name does not parse.
 */
function offsetBounds(objects: LakeObject[]): [number, number] {
  let least = Number.MAX_SAFE_INTEGER;
  let greatest = 0;
  for (const object of objects) {
    const name = parseObjectKey(object.key);
    if (name === null) return [0, Number.MAX_SAFE_INTEGER];
    least = Math.min(least, name.firstOffset);
    greatest = Math.max(greatest, name.lastOffset);
  }
  return [least, greatest];
}

/**
 * Discovery's recent marks of `topic`, and whether its prefix was swept,
 * through any session on the warehouse (the loader's, or the status's).
 *
 * @param session A connected session that may read RAW.
 * @param topic The topic.
 * @param lookbackDays Landing days before the newest mark to read.
 * @returns The discovery state.
 */
export async function readDiscoveryState(
  session: Pick<SnowflakeSession, "execute">,
  topic: string,
  lookbackDays: number,
): Promise<DiscoveryState> {
  const [swept] = (await session.execute(SWEPT, [topic])).rows;
  const { rows } = await session.execute(MARKS, [topic, lookbackDays, topic]);
  return {
    swept: Number(swept?.SWEPT ?? 0) > 0,
    marks: rows.map((row) => ({
      day: String(row.LANDING_DAY),
      partition: Number(row.STREAM_PARTITION),
      tag: String(row.STREAM_TAG),
      key: String(row.LAST_KEY),
    })),
  };
}
